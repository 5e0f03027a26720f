package wake

import (
	"testing"
	"time"
)

func TestSignal(t *testing.T) {
	var s Signal
	a, b := s.Wait(), s.Wait()
	if a != b {
		t.Fatal("waiters before a Notify share one channel")
	}
	s.Notify()
	for _, c := range []<-chan struct{}{a, b} {
		select {
		case <-c:
		case <-time.After(time.Second):
			t.Fatal("Notify did not wake a waiter")
		}
	}
	select {
	case <-s.Wait():
		t.Fatal("a new Wait is woken by an old Notify")
	default:
	}
	s.Notify() // nobody waiting: no panic
}
