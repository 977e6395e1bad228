package requestid

import (
	"context"
	"testing"
)

func TestWithFrom(t *testing.T) {
	if got := From(context.Background()); got != "" {
		t.Fatalf("From(empty) = %q, want empty", got)
	}
	ctx := With(context.Background(), "abc")
	if got := From(ctx); got != "abc" {
		t.Fatalf("From = %q, want abc", got)
	}
}
