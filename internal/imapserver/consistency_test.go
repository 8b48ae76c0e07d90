package imapserver

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMultiClientConsistency is a randomized state-tracking test: several
// sessions on one INBOX take turns running random APPEND, STORE (flags
// and keywords, silent or not, by sequence number or UID), EXPUNGE, UID
// EXPUNGE, COPY, MOVE, FETCH (one that sets \Seen too), NOOP and SELECT,
// while a model keeps what the mailbox holds and what each session was
// told. Every untagged response is checked against the model: EXPUNGE
// only of messages that are gone, EXISTS exactly the messages added,
// FETCH flags as the mailbox has them, keywords announced in FLAGS before
// a FETCH shows them, UID and MODSEQ in the FETCHes of the CONDSTORE
// session, \Recent in one session only; after NOOP a session's view is
// the mailbox.
//
// It runs a bounded number of operations with a fixed seed; set
// POSTHORN_IMAP_STRESS_OPS (e.g. 100000) and POSTHORN_IMAP_STRESS_SEED
// for longer or other runs. The seed is logged.
func TestMultiClientConsistency(t *testing.T) {
	ops, seed := 1500, uint64(12)
	if v := os.Getenv("POSTHORN_IMAP_STRESS_OPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("POSTHORN_IMAP_STRESS_OPS: %v", err)
		}
		ops = n
	}
	if v := os.Getenv("POSTHORN_IMAP_STRESS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("POSTHORN_IMAP_STRESS_SEED: %v", err)
		}
		seed = n
	}
	if testing.Short() {
		ops = min(ops, 300)
	}
	t.Logf("seed %d, %d operations (POSTHORN_IMAP_STRESS_SEED, POSTHORN_IMAP_STRESS_OPS)", seed, ops)

	e := newEnv(t)
	m := &mcModel{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), truth: map[uint32]mcFlags{}}
	first := e.login()
	first.ok("CREATE Other")
	for i := range 3 {
		s := &mcSession{id: i, c: first, keywords: map[string]bool{}, belief: map[uint32]mcFlags{}, modseq: map[uint32]uint64{}}
		if i > 0 {
			s.c = e.login()
		}
		if i == 0 {
			s.c.ok("ENABLE CONDSTORE")
			s.condstore = true
		}
		m.sessions = append(m.sessions, s)
		m.selectInbox(s)
	}
	for i := range ops {
		if t.Failed() {
			t.Fatalf("stopped after operation %d (seed %d)", i, seed)
		}
		m.step()
	}
	for _, s := range m.sessions {
		m.noop(s)
	}
}

// mcFlags is a message's flags and keywords, lower-cased.
type mcFlags map[string]bool

func (f mcFlags) String() string {
	return strings.Join(slices.Sorted(maps.Keys(f)), " ")
}

func parseMCFlags(list string) mcFlags {
	f := mcFlags{}
	for _, x := range strings.Fields(list) {
		f[strings.ToLower(x)] = true
	}
	return f
}

// mcModel is the mailbox (truth: INBOX's messages by UID) and the
// sessions' views of it.
type mcModel struct {
	t        *testing.T
	rng      *rand.Rand
	truth    map[uint32]mcFlags
	sessions []*mcSession
	cmd      string // the command running, for messages
	// expungeIssued allows the next command NO [EXPUNGEISSUED].
	expungeIssued bool
	// plainFetch: the command is a FETCH without MODSEQ, whose FETCHes
	// RFC 7162 §3.1 leaves without UID and MODSEQ unless it set \Seen
	// (seenFetch, and the FETCH has FLAGS).
	plainFetch, seenFetch bool
}

// mcSession is what one client was told: its sequence-number view, the
// flags it last saw of each message, the keywords FLAGS announced.
type mcSession struct {
	id        int
	c         *tconn
	view      []uint32
	belief    map[uint32]mcFlags
	keywords  map[string]bool
	condstore bool
	modseq    map[uint32]uint64
	// recent is what FETCH showed \Recent since SELECT.
	recent map[uint32]bool
}

var mcFlagPool = []string{`\Seen`, `\Flagged`, `\Answered`, `\Draft`, `\Deleted`, `$Forwarded`, `Work`, `$Label1`}

func (m *mcModel) errorf(format string, args ...any) {
	m.t.Helper()
	m.t.Errorf("%s: %s", m.cmd, fmt.Sprintf(format, args...))
}

// step runs one random operation on a random session.
func (m *mcModel) step() {
	s := m.sessions[m.rng.IntN(len(m.sessions))]
	switch r := m.rng.IntN(100); {
	case r < 15 || len(m.truth) < 3:
		m.appendMsg(s)
	case r < 45:
		m.store(s)
	case r < 52:
		m.run(s, "EXPUNGE", func() {
			for u, f := range m.truth {
				if f[`\deleted`] {
					delete(m.truth, u)
				}
			}
		})
	case r < 57:
		set := m.randomUIDs(s)
		m.run(s, "UID EXPUNGE "+formatList(set), func() {
			for _, u := range set {
				if m.truth[u][`\deleted`] && slices.Contains(s.view, u) {
					delete(m.truth, u)
				}
			}
		})
	case r < 62:
		set, _ := m.randomSeqs(s)
		if set != "" {
			m.run(s, "COPY "+set+" Other", nil)
		}
	case r < 68:
		set, uids := m.randomSeqs(s)
		if set != "" {
			m.run(s, "MOVE "+set+" Other", func() {
				for _, u := range uids {
					delete(m.truth, u)
				}
			})
		}
	case r < 78:
		m.noop(s)
	case r < 88:
		m.fetchAll(s)
	case r < 94:
		set, uids := m.randomSeqs(s)
		// A message expunged by another session, not yet announced to
		// this one, cannot be fetched (RFC 2180 §4.1.2).
		m.expungeIssued = slices.ContainsFunc(uids, func(u uint32) bool { _, ok := m.truth[u]; return !ok })
		if set != "" {
			m.plainFetch, m.seenFetch = true, true
			m.run(s, "FETCH "+set+" BODY[TEXT]", func() {
				for _, u := range uids {
					if f, ok := m.truth[u]; ok {
						f[`\seen`] = true
					}
				}
			})
			m.plainFetch, m.seenFetch = false, false
		}
	default:
		m.selectInbox(s)
	}
}

// randomFlags picks up to three flags, sometimes a keyword never used.
func (m *mcModel) randomFlags() []string {
	var fs []string
	for range m.rng.IntN(3) + 1 {
		fs = append(fs, mcFlagPool[m.rng.IntN(len(mcFlagPool))])
	}
	if m.rng.IntN(8) == 0 {
		fs = append(fs, fmt.Sprintf("kw%d", m.rng.IntN(40)))
	}
	return fs
}

func (m *mcModel) appendMsg(s *mcSession) {
	fs := m.randomFlags()
	body := fmt.Sprintf("Subject: m\r\n\r\nbody %d\r\n", m.rng.IntN(1000))
	u, st := m.exec(s, fmt.Sprintf("APPEND INBOX (%s) {%d+}\r\n%s", strings.Join(fs, " "), len(body), body))
	mm := regexp.MustCompile(`APPENDUID \d+ (\d+)`).FindStringSubmatch(st)
	if mm == nil {
		m.errorf("no APPENDUID in %q", st)
		return
	}
	uid, _ := strconv.ParseUint(mm[1], 10, 32)
	m.truth[uint32(uid)] = parseMCFlags(strings.Join(fs, " "))
	m.check(s, u)
}

func (m *mcModel) store(s *mcSession) {
	op := []string{"+", "-", ""}[m.rng.IntN(3)]
	silent := m.rng.IntN(3) == 0
	fs := m.randomFlags()
	var set string
	var uids []uint32
	if m.rng.IntN(2) == 0 {
		set, uids = m.randomSeqs(s)
		if set == "" {
			return
		}
	} else {
		all := m.randomUIDs(s)
		set = "UID " + formatList(all)
		for _, u := range all {
			if slices.Contains(s.view, u) { // a UID set names the view's messages
				uids = append(uids, u)
			}
		}
	}
	item := op + "FLAGS"
	if silent {
		item += ".SILENT"
	}
	cmd := strings.TrimPrefix(set, "UID ")
	if strings.HasPrefix(set, "UID ") {
		cmd = "UID STORE " + cmd
	} else {
		cmd = "STORE " + cmd
	}
	changes := parseMCFlags(strings.Join(fs, " "))
	m.run(s, cmd+" "+item+" ("+strings.Join(fs, " ")+")", func() {
		for _, u := range uids {
			f, ok := m.truth[u]
			if !ok {
				continue
			}
			switch op {
			case "+":
				maps.Copy(f, changes)
			case "-":
				for k := range changes {
					delete(f, k)
				}
			default:
				clear(f)
				maps.Copy(f, changes)
			}
			if silent {
				// The client knows what it did.
				s.belief[u] = maps.Clone(f)
			}
		}
	})
}

// randomSeqs picks a sequence set of s's view: its text and the UIDs.
func (m *mcModel) randomSeqs(s *mcSession) (string, []uint32) {
	n := len(s.view)
	if n == 0 {
		return "", nil
	}
	var seqs []uint32
	for range m.rng.IntN(4) + 1 {
		lo := m.rng.IntN(n) + 1
		hi := min(n, lo+m.rng.IntN(3))
		for q := lo; q <= hi; q++ {
			seqs = append(seqs, uint32(q))
		}
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	uids := make([]uint32, len(seqs))
	for i, q := range seqs {
		uids[i] = s.view[q-1]
	}
	return formatList(seqs), uids
}

// randomUIDs picks UIDs among the mailbox's and s's view, and one that
// never existed.
func (m *mcModel) randomUIDs(s *mcSession) []uint32 {
	pool := slices.Collect(maps.Keys(m.truth))
	pool = append(pool, s.view...)
	var out []uint32
	for range m.rng.IntN(4) + 1 {
		if len(pool) > 0 {
			out = append(out, pool[m.rng.IntN(len(pool))])
		}
	}
	out = append(out, 1_000_000)
	slices.Sort(out)
	return slices.Compact(out)
}

func formatList(nums []uint32) string {
	parts := make([]string, len(nums))
	for i, n := range nums {
		parts[i] = strconv.FormatUint(uint64(n), 10)
	}
	return strings.Join(parts, ",")
}

// exec runs a command and fails unless it completes OK.
func (m *mcModel) exec(s *mcSession, cmd string) ([]string, string) {
	m.t.Helper()
	m.cmd = fmt.Sprintf("session %d: %s", s.id, cmd)
	s.c.c.SetDeadline(time.Now().Add(30 * time.Second)) // long runs outlive dial's
	u, st := s.c.run(cmd)
	if !strings.HasPrefix(st, "OK") && !(m.expungeIssued && strings.HasPrefix(st, "NO [EXPUNGEISSUED]")) {
		m.errorf("tagged %q", st)
	}
	m.expungeIssued = false
	return u, st
}

// run runs cmd, applies its effect on the mailbox to the model, and
// checks the responses.
func (m *mcModel) run(s *mcSession, cmd string, effect func()) {
	m.t.Helper()
	u, _ := m.exec(s, cmd)
	if effect != nil {
		effect()
	}
	m.check(s, u)
}

func (m *mcModel) selectInbox(s *mcSession) {
	s.view, s.belief, s.keywords, s.recent = nil, map[uint32]mcFlags{}, map[string]bool{}, map[uint32]bool{}
	u, _ := m.exec(s, "SELECT INBOX")
	m.check(s, u)
	// FLAGS lists every keyword in use.
	for _, f := range m.truth {
		for k := range f {
			if !strings.HasPrefix(k, `\`) && !s.keywords[k] {
				m.errorf("keyword %s in use is not in FLAGS", k)
			}
		}
	}
	m.fetchAll(s)
}

// noop checks that after NOOP the session's view is the mailbox and its
// flags are the mailbox's.
func (m *mcModel) noop(s *mcSession) {
	m.run(s, "NOOP", nil)
	want := slices.Sorted(maps.Keys(m.truth))
	if !slices.Equal(s.view, want) {
		m.errorf("view %v, mailbox %v", s.view, want)
	}
	for u, b := range s.belief {
		if f, ok := m.truth[u]; ok && f.String() != b.String() {
			m.errorf("UID %d: client was told (%s), mailbox has (%s)", u, b, f)
		}
	}
}

// fetchAll fetches every flag and checks each message of the view is
// reported.
func (m *mcModel) fetchAll(s *mcSession) {
	m.cmd = fmt.Sprintf("session %d: FETCH 1:* (UID FLAGS)", s.id)
	if len(s.view) == 0 {
		return
	}
	s.c.c.SetDeadline(time.Now().Add(30 * time.Second))
	u, st := s.c.run("FETCH 1:* (UID FLAGS)")
	if !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "NO [EXPUNGEISSUED]") {
		m.errorf("tagged %q", st)
	}
	seen := map[uint32]bool{}
	for _, l := range u {
		if mm := mcFetchRE.FindStringSubmatch(l); mm != nil {
			if q, _ := strconv.Atoi(mm[1]); q >= 1 && q <= len(s.view) {
				seen[s.view[q-1]] = true
			}
		}
	}
	view := slices.Clone(s.view)
	m.plainFetch = true
	m.check(s, u)
	m.plainFetch = false
	for _, uid := range view {
		if _, ok := m.truth[uid]; ok && !seen[uid] {
			m.errorf("UID %d missing from FETCH 1:*", uid)
		}
	}
}

var (
	mcFetchRE  = regexp.MustCompile(`(?s)^\* (\d+) FETCH \((.*)\)$`)
	mcUIDRE    = regexp.MustCompile(`(?:^|[ (])UID (\d+)`)
	mcFlagsRE  = regexp.MustCompile(`(?:^|[ (])FLAGS \(([^)]*)\)`)
	mcModSeqRE = regexp.MustCompile(`(?:^|[ (])MODSEQ \((\d+)\)`)
	mcCountRE  = regexp.MustCompile(`^\* (\d+) (EXISTS|EXPUNGE|RECENT)$`)
)

// check applies and checks the untagged responses u of one command.
func (m *mcModel) check(s *mcSession, u []string) {
	m.t.Helper()
	for _, l := range u {
		switch {
		case strings.HasPrefix(l, "* FLAGS ("):
			list := strings.TrimSuffix(strings.TrimPrefix(l, "* FLAGS ("), ")")
			kws := map[string]bool{}
			for _, f := range strings.Fields(list) {
				if !strings.HasPrefix(f, `\`) {
					kws[strings.ToLower(f)] = true
				}
			}
			for k := range s.keywords {
				if !kws[k] {
					m.errorf("FLAGS dropped keyword %s while selected: %q", k, l)
				}
			}
			s.keywords = kws
		case mcCountRE.MatchString(l):
			mm := mcCountRE.FindStringSubmatch(l)
			n, _ := strconv.Atoi(mm[1])
			switch mm[2] {
			case "EXPUNGE":
				if n < 1 || n > len(s.view) {
					m.errorf("%q with %d messages", l, len(s.view))
					continue
				}
				uid := s.view[n-1]
				if _, ok := m.truth[uid]; ok {
					m.errorf("%q: UID %d still exists", l, uid)
				}
				s.view = slices.Delete(s.view, n-1, n)
				delete(s.belief, uid)
			case "EXISTS":
				var newer []uint32
				last := uint32(0)
				if len(s.view) > 0 {
					last = s.view[len(s.view)-1]
				}
				for _, uid := range slices.Sorted(maps.Keys(m.truth)) {
					if uid > last {
						newer = append(newer, uid)
					}
				}
				if n != len(s.view)+len(newer) {
					m.errorf("%q: had %d, mailbox added %v", l, len(s.view), newer)
				}
				s.view = append(s.view, newer...)
			}
		case mcFetchRE.MatchString(l):
			m.checkFetch(s, l)
		case strings.HasPrefix(l, "* OK "), strings.HasPrefix(l, "* ENABLED"), strings.HasPrefix(l, "* LIST "):
		default:
			m.errorf("unexpected response %q", l)
		}
	}
}

func (m *mcModel) checkFetch(s *mcSession, l string) {
	mm := mcFetchRE.FindStringSubmatch(l)
	q, _ := strconv.Atoi(mm[1])
	if q < 1 || q > len(s.view) {
		m.errorf("%q with %d messages", l, len(s.view))
		return
	}
	uid := s.view[q-1]
	items := mm[2]
	// RFC 7162 §3.1: UID and MODSEQ in every FETCH but those of a FETCH
	// that asks for neither and sets no \Seen (then FLAGS is absent).
	needIDs := s.condstore && (!m.plainFetch || m.seenFetch && mcFlagsRE.MatchString(items))
	if um := mcUIDRE.FindStringSubmatch(items); um != nil {
		if got, _ := strconv.ParseUint(um[1], 10, 32); uint32(got) != uid {
			m.errorf("%q: sequence %d is UID %d", l, q, uid)
		}
	} else if needIDs {
		m.errorf("%q: no UID with CONDSTORE on", l)
	}
	if ms := mcModSeqRE.FindStringSubmatch(items); ms != nil {
		v, _ := strconv.ParseUint(ms[1], 10, 64)
		if v < s.modseq[uid] {
			m.errorf("%q: MODSEQ went down from %d", l, s.modseq[uid])
		}
		s.modseq[uid] = v
	} else if needIDs {
		m.errorf("%q: no MODSEQ with CONDSTORE on", l)
	}
	fm := mcFlagsRE.FindStringSubmatch(items)
	if fm == nil {
		return
	}
	got := parseMCFlags(fm[1])
	// \Recent is in exactly one session, and stays while it is selected.
	if got[`\recent`] {
		delete(got, `\recent`)
		for _, o := range m.sessions {
			if o != s && o.recent[uid] {
				m.errorf("%q: UID %d is \\Recent in session %d too", l, uid, o.id)
			}
		}
		s.recent[uid] = true
	} else if s.recent[uid] {
		m.errorf("%q: UID %d lost \\Recent", l, uid)
	}
	for k := range got {
		if !strings.HasPrefix(k, `\`) && !s.keywords[k] {
			m.errorf("%q: keyword %s not announced in FLAGS", l, k)
		}
	}
	if f, ok := m.truth[uid]; ok && f.String() != got.String() {
		m.errorf("%q: UID %d has (%s)", l, uid, f)
	}
	s.belief[uid] = got
}
