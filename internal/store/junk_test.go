package store

import "testing"

func TestTrainingVerdict(t *testing.T) {
	for _, c := range []struct {
		src, dst string
		want     JunkVerdict
	}{
		{"", SpecialJunk, JunkSpam},
		{SpecialTrash, SpecialJunk, JunkSpam},
		{SpecialArchive, SpecialJunk, JunkSpam},
		{SpecialJunk, "", JunkHam},
		{SpecialJunk, SpecialArchive, JunkHam},
		{SpecialJunk, SpecialTrash, ""},
		{SpecialJunk, SpecialJunk, ""},
		{"", SpecialTrash, ""},
		{"", "", ""},
		{SpecialSent, SpecialArchive, ""},
	} {
		if got := TrainingVerdict(c.src, c.dst); got != c.want {
			t.Errorf("TrainingVerdict(%q, %q) = %q, want %q", c.src, c.dst, got, c.want)
		}
	}
}
