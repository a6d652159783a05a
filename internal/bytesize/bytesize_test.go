package bytesize

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"10GB", 10e9, false},
		{"512MiB", 512 << 20, false},
		{"1.5G", 3 << 29, false},
		{"1000", 1000, false},
		{"2 tb", 2e12, false},
		{"0", 0, false},
		{"", 0, true},
		{"lots", 0, true},
		{"10XB", 0, true},
		{"-1GB", 0, true},
		{"9999999TiB", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("Parse(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}
