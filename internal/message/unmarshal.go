package message

// part decodes one part and checks that its offsets are ordered and that
// its children lie inside its body.
func (d *decoder) part(depth int) *Part {
	d.nparts++
	if depth > MaxDepth || d.nparts > MaxParts {
		d.fail()
		return nil
	}
	p := &Part{}
	p.HeaderStart = d.offset()
	p.HeaderEnd = p.HeaderStart + d.offset()
	p.BodyStart = p.HeaderEnd + d.offset()
	p.BodyEnd = p.BodyStart + d.offset()
	p.MediaType = d.str()
	p.MediaSubtype = d.str()
	p.Params = d.strMap()
	p.ID = d.str()
	p.Description = d.str()
	p.Encoding = d.str()
	p.MD5 = d.str()
	p.Location = d.str()
	p.Disposition = d.str()
	p.DispositionParams = d.strMap()
	if n := d.count(); n > 0 {
		p.Language = make([]string, n)
		for i := range p.Language {
			p.Language[i] = d.str()
		}
	}
	p.Lines = d.offset()
	flags := d.byte()
	if flags&^3 != 0 {
		d.fail()
	}
	if n := d.count(); n > 0 {
		p.Parts = make([]*Part, 0, n)
		for range n {
			if d.err != nil {
				return nil
			}
			c := d.part(depth + 1)
			if d.err == nil && !d.inside(p, c) {
				d.fail()
			}
			p.Parts = append(p.Parts, c)
		}
	}
	if flags&1 != 0 && d.err == nil {
		p.Message = d.part(depth + 1)
		if d.err == nil && !d.inside(p, p.Message) {
			d.fail()
		}
	}
	if flags&2 != 0 {
		p.Envelope = d.envelope()
	}
	if d.err != nil {
		return nil
	}
	return p
}

// inside reports whether c lies within the body of p, after p's previous
// child.
func (d *decoder) inside(p, c *Part) bool {
	lo := p.BodyStart
	if n := len(p.Parts); n > 0 && p.Parts[n-1] != c {
		lo = p.Parts[n-1].BodyEnd
	}
	return c.HeaderStart >= lo && c.BodyEnd <= p.BodyEnd
}

func (d *decoder) envelope() *Envelope {
	flags := d.byte()
	if flags&^3 != 0 {
		d.fail()
	}
	e := &Envelope{Date: d.str(), Subject: d.str()}
	e.From = d.addrs()
	if flags&1 != 0 {
		e.Sender = cloneAddrs(e.From)
	} else {
		e.Sender = d.addrs()
	}
	if flags&2 != 0 {
		e.ReplyTo = cloneAddrs(e.From)
	} else {
		e.ReplyTo = d.addrs()
	}
	e.To = d.addrs()
	e.Cc = d.addrs()
	e.Bcc = d.addrs()
	e.InReplyTo = d.str()
	e.MessageID = d.str()
	return e
}

func (d *decoder) addrs() []EnvAddress {
	n := d.count()
	if n == 0 {
		return nil
	}
	as := make([]EnvAddress, n)
	for i := range as {
		as[i] = EnvAddress{Name: d.str(), Adl: d.str(), Mailbox: d.str(), Host: d.str()}
	}
	return as
}
