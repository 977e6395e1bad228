package graph

import (
	"context"
	"testing"

	"github.com/ironclad-auth/ironclad/graph/model"
)

// A subscription whose client does not read fills its bounded buffer; the
// next event drops the connection instead of queueing without end.
func TestLiveSlowConsumerDropped(t *testing.T) {
	l := NewLive(nil, nil, nil, LiveOptions{})
	defer l.Close()
	lc, err := l.open("192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := lc.subscribe(ctx, "")
	ev := &model.SessionEvent{Type: model.SessionEventTypeProfileChanged}
	for i := range subscriptionBuffer {
		if n := lc.deliver(ev); n != 1 {
			t.Fatalf("event %d reached %d subscriptions, want 1", i, n)
		}
	}
	if _, total := l.Count(); total != 1 {
		t.Fatalf("%d connections before the overflow, want 1", total)
	}
	lc.deliver(ev)
	if _, total := l.Count(); total != 0 {
		t.Fatalf("%d connections after the overflow, want the slow one dropped", total)
	}
	if len(ch) != subscriptionBuffer {
		t.Fatalf("buffer holds %d events, want it bounded at %d", len(ch), subscriptionBuffer)
	}
	if lc.deliver(ev) != 0 {
		t.Fatal("a dropped connection still takes events")
	}
}
