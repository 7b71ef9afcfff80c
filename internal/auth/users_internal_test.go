package auth

import (
	"strings"
	"testing"
)

// The timing cover for unknown usernames must cost what a real check
// costs: same algorithm and parameters, a salt and key of the real sizes.
func TestDummyHashMatchesParameters(t *testing.T) {
	genuine := strings.Split(HashPassword("x"), "$")
	dummy := strings.Split(dummyHash, "$")
	if len(genuine) != 6 || len(dummy) != 6 {
		t.Fatalf("PHC strings: real %q, dummy %q", genuine, dummy)
	}
	for i := 0; i < 4; i++ {
		if genuine[i] != dummy[i] {
			t.Errorf("field %d: real %q, dummy %q", i, genuine[i], dummy[i])
		}
	}
	if len(genuine[4]) != len(dummy[4]) || len(genuine[5]) != len(dummy[5]) {
		t.Errorf("salt/key lengths: real %d/%d, dummy %d/%d", len(genuine[4]), len(genuine[5]), len(dummy[4]), len(dummy[5]))
	}
	if CheckPassword(dummyHash, "x") {
		t.Error("the dummy hash accepts a password")
	}
}
