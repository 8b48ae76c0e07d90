package imapwire

import (
	"slices"
	"strconv"
	"strings"
)

// SeqRange is Start:Stop; 0 stands for "*" (the largest number in use).
// Start may be greater than Stop (RFC 9051 §9: "4:2" is 2:4).
type SeqRange struct{ Start, Stop uint32 }

// SeqSet is a sequence-set or uid-set. Saved is set for "$", the saved
// search result of SEARCHRES (RFC 5182), which then has no ranges.
type SeqSet struct {
	Ranges []SeqRange
	Saved  bool
}

// SeqSet reads a sequence-set (RFC 9051 §9), or "$".
func (p *Parser) SeqSet() SeqSet {
	if p.Accept('$') {
		return SeqSet{Saved: true}
	}
	var s SeqSet
	for p.err == nil {
		a := p.seqNumber()
		b := a
		if p.Accept(':') {
			b = p.seqNumber()
		}
		s.Ranges = append(s.Ranges, SeqRange{a, b})
		if !p.Accept(',') {
			break
		}
	}
	return s
}

func (p *Parser) seqNumber() uint32 {
	if p.Accept('*') {
		return 0
	}
	return p.NZNumber()
}

// Resolve returns the range with "*" replaced by max and Start <= Stop.
func (r SeqRange) Resolve(max uint32) (lo, hi uint32) {
	lo, hi = r.Start, r.Stop
	if lo == 0 {
		lo = max
	}
	if hi == 0 {
		hi = max
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi
}

// Contains reports whether n is in the set, "*" being max.
func (s SeqSet) Contains(n, max uint32) bool {
	for _, r := range s.Ranges {
		lo, hi := r.Resolve(max)
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

// FormatUIDs formats sorted or unsorted numbers as a compact set
// ("1:3,7"); "" for none.
func FormatUIDs(nums []uint32) string {
	if len(nums) == 0 {
		return ""
	}
	ns := slices.Clone(nums)
	slices.Sort(ns)
	ns = slices.Compact(ns)
	var b strings.Builder
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(ns[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(ns[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

// FormatOrdered formats numbers keeping their order ("5,3,9"), as COPYUID
// needs to pair source and destination UIDs; runs ascending by one are
// compressed.
func FormatOrdered(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(nums[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(nums[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}
