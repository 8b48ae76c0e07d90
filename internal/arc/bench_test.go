package arc

import (
	"context"
	"strings"
	"testing"
)

func BenchmarkVerifyTwoHops(b *testing.B) {
	res := testResolver(b)
	msg := twoHops(b, res)
	v := &Verifier{Resolver: res, Now: verifyNow}
	for b.Loop() {
		if r, err := v.Verify(context.Background(), strings.NewReader(msg)); err != nil || r.Chain != StatusPass {
			b.Fatal(r, err)
		}
	}
}
