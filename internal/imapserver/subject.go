package imapserver

import "strings"

// baseSubject extracts the base subject of a (decoded) Subject field,
// RFC 5256 §2.1, and reports whether the extraction found a reply or
// forward marker ("Re:", "Fwd:", "(fwd)", "[fwd: …]"), which THREAD uses.
// The result keeps its case; compare it with foldASCII (i;ascii-casemap).
func baseSubject(subject string) (base string, replyOrFwd bool) {
	// Step 1: RFC 2047 words are already decoded; tabs and line breaks
	// become spaces and runs of spaces one space.
	s := collapseSpace(subject)
	for {
		// Step 2: strip the subj-trailer ("(fwd)" or WSP), repeatedly.
		for {
			if strings.HasSuffix(s, " ") {
				s = s[:len(s)-1]
			} else if hasSuffixFold(s, "(fwd)") {
				s, replyOrFwd = s[:len(s)-5], true
			} else {
				break
			}
		}
		// Steps 3–5: strip subj-leaders, then a subj-blob prefix if
		// something is left after it, until neither applies.
		for changed := true; changed; {
			changed = false
			for {
				n, refwd := leaderLen(s)
				if n == 0 {
					break
				}
				s, changed = s[n:], true
				replyOrFwd = replyOrFwd || refwd
			}
			if n := blobLen(s); n > 0 && n < len(s) {
				s, changed = s[n:], true
			}
		}
		// Step 6: "[fwd: base]" is a forward of base; start again at step 2.
		if hasPrefixFold(s, "[fwd:") && strings.HasSuffix(s, "]") {
			s, replyOrFwd = s[5:len(s)-1], true
			continue
		}
		return s, replyOrFwd
	}
}

// collapseSpace turns tabs, CR and LF into spaces and runs of spaces into
// one.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// leaderLen returns the length of the subj-leader at the start of s:
//
//	subj-leader = (*subj-blob subj-refwd) / WSP
//	subj-refwd  = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
//
// and whether it was a subj-refwd; 0 if there is none.
func leaderLen(s string) (int, bool) {
	if strings.HasPrefix(s, " ") {
		return 1, false
	}
	i := 0
	for {
		n := blobLen(s[i:])
		if n == 0 {
			break
		}
		i += n
	}
	for _, word := range []string{"re", "fwd", "fw"} {
		if !hasPrefixFold(s[i:], word) {
			continue
		}
		j := i + len(word)
		for j < len(s) && s[j] == ' ' {
			j++
		}
		j += blobLen(s[j:])
		if j < len(s) && s[j] == ':' {
			return j + 1, true
		}
	}
	return 0, false
}

// blobLen returns the length of the subj-blob at the start of s:
// "[" *BLOBCHAR "]" *WSP, BLOBCHAR being any CHAR but "[" and "]"; 0 if
// there is none.
func blobLen(s string) int {
	if !strings.HasPrefix(s, "[") {
		return 0
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '[':
			return 0
		case ']':
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
			return i
		}
	}
	return 0
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// foldASCII upper-cases ASCII letters only: the i;ascii-casemap
// collation SORT and THREAD compare strings with (RFC 5256 §3, RFC 4790
// §9.2).
func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'a' <= c && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
