package store

import (
	"slices"
	"testing"
)

// TestForUIDChunks checks that the conditions forUIDChunks builds select
// exactly the set, for dense, sparse and multi-chunk sets.
func TestForUIDChunks(t *testing.T) {
	sparse := make([]uint32, 2*uidChunk+7)
	for i := range sparse {
		sparse[i] = uint32(10 * (len(sparse) - i)) // descending: sorted by forUIDChunks
	}
	for _, uids := range [][]uint32{{5}, {1, 2, 3, 5, 8}, {1, 1000}, {7, 3, 3, 9}, sparse} {
		want := slices.Clone(uids)
		slices.Sort(want)
		want = slices.Compact(want)
		var got []uint32
		queries := 0
		err := forUIDChunks(uids, func(where string, args []any, keep func(uint32) bool) error {
			queries++
			in := map[uint32]bool{}
			if len(args) == 2 && where == `mailbox_id = ? AND uid >= ? AND uid <= ?` {
				for u := uint32(args[0].(int64)); u <= uint32(args[1].(int64)); u++ {
					in[u] = true
				}
			} else {
				for _, a := range args {
					in[uint32(a.(int64))] = true
				}
			}
			for _, u := range want {
				if in[u] && keep(u) {
					got = append(got, u)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("forUIDChunks(%d UIDs) selected %d, want %d", len(uids), len(got), len(want))
		}
		if len(uids) == len(sparse) && queries != 3 {
			t.Errorf("sparse set of %d: %d queries, want 3", len(uids), queries)
		}
	}
}
