package apiv1

import "testing"

func TestParseDiagnostics(t *testing.T) {
	got := ParseDiagnostics(".semaphore/semaphore.yml:7:5: block \"A\" has no jobs\nC:/x.yml:1:2: drive letters\nno position here\n", SeverityError)
	if len(got) != 3 {
		t.Fatalf("%d diagnostics", len(got))
	}
	if d := got[0]; d.File != ".semaphore/semaphore.yml" || d.Line != 7 || d.Column != 5 || d.Message != `block "A" has no jobs` {
		t.Errorf("first = %+v", d)
	}
	if d := got[1]; d.File != "C:/x.yml" || d.Line != 1 || d.Column != 2 {
		t.Errorf("second = %+v", d)
	}
	if d := got[2]; d.Line != 0 || d.Message != "no position here" {
		t.Errorf("third = %+v", d)
	}
}
