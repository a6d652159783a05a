package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/artifact"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/notification"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

// fill sets every exported field of the struct v points at to a value
// that is not zero, recursing into slices of struct pointers once.
func fill(t *testing.T, v reflect.Value, depth int) {
	t.Helper()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString("s" + v.Type().Field(i).Name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			if f.Type() == reflect.TypeOf(time.Duration(0)) {
				f.SetInt(int64(3 * time.Second))
			} else {
				f.SetInt(int64(i + 1))
			}
		case reflect.Slice:
			el := f.Type().Elem()
			switch {
			case el.Kind() == reflect.String:
				f.Set(reflect.ValueOf([]string{"a", "b"}))
			case el.Kind() == reflect.Uint8:
				f.SetBytes([]byte(`{"x":1}`))
			case el.Kind() == reflect.Pointer && el.Elem().Kind() == reflect.Struct && depth > 0:
				p := reflect.New(el.Elem())
				fill(t, p.Elem(), depth-1)
				f.Set(reflect.Append(reflect.MakeSlice(f.Type(), 0, 1), p))
			case el.Kind() == reflect.Struct && el != reflect.TypeOf(time.Time{}) && depth > 0:
				p := reflect.New(el)
				fill(t, p.Elem(), depth-1)
				f.Set(reflect.Append(reflect.MakeSlice(f.Type(), 0, 1), p.Elem()))
			}
		case reflect.Map:
			if f.Type() == reflect.TypeOf(map[string]string{}) {
				f.Set(reflect.ValueOf(map[string]string{"K": "V"}))
			}
		case reflect.Struct:
			if f.Type() == reflect.TypeOf(time.Time{}) {
				f.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)))
			} else if f.Type() == reflect.TypeOf(ci.Timestamp{}) {
				f.Set(reflect.ValueOf(ci.Timestamp(time.UnixMilli(1700000000123))))
			}
		case reflect.Pointer:
			if el := f.Type().Elem(); el.Kind() == reflect.Struct && el != reflect.TypeOf(ci.Timestamp{}) && depth > 0 {
				p := reflect.New(el)
				fill(t, p.Elem(), depth-1)
				f.Set(p)
				continue
			}
			switch f.Type().Elem() {
			case reflect.TypeOf(0):
				n := 7
				f.Set(reflect.ValueOf(&n))
			case reflect.TypeOf(ci.Timestamp{}):
				ts := ci.Timestamp(time.UnixMilli(1700000000456))
				f.Set(reflect.ValueOf(&ts))
			}
		}
	}
}

func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestWireViewsKeepTheJSON checks that the contract's types show every
// field of the domain objects as their own JSON did, field for field: a
// field added to a domain object and not to the contract fails here.
func TestWireViewsKeepTheJSON(t *testing.T) {
	check := func(name string, domain any, convert func() any) {
		t.Helper()
		fill(t, reflect.ValueOf(domain).Elem(), 2)
		want, got := asMap(t, domain), asMap(t, convert())
		if !reflect.DeepEqual(want, got) {
			for k, v := range want {
				if !reflect.DeepEqual(v, got[k]) {
					t.Errorf("%s: %q is %v in the domain's JSON, %v in the contract's", name, k, v, got[k])
				}
			}
			for k, v := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s: the contract has %q (%v) that the domain's JSON does not", name, k, v)
				}
			}
		}
	}
	p := &ci.Project{}
	check("Project", p, func() any { return projectView(p) })
	w := &ci.Workflow{}
	check("Workflow", w, func() any { return workflowView(w) })
	pl := &ci.Pipeline{}
	check("Pipeline", pl, func() any { return pipelineView(pl) })
	j := &ci.Job{}
	check("Job", j, func() any { return jobView(j) })
	ag := &ci.Agent{}
	check("Agent", ag, func() any { return agentView(ag) })
	u := &ci.User{}
	check("User", u, func() any { return userView(u) })
	m := &store.Member{}
	check("Member", m, func() any { return memberView(m) })
	ev := &store.AuditEvent{}
	check("AuditEvent", ev, func() any { return auditView(ev) })
	ds := &store.DebugSession{}
	check("DebugSession", ds, func() any { return debugSessionView(ds) })
	tm := &vault.TargetMeta{}
	check("Target", tm, func() any { return targetMetaView(tm) })
	sm := &vault.Meta{}
	check("SecretMeta", sm, func() any { return secretMetaView(sm) })
	ae := &artifact.Entry{}
	check("Artifact", ae, func() any { return artifactView(*ae) })
	ll := &logstore.Line{}
	check("LogLine", ll, func() any { return logLineView(*ll) })
	cmd := &logstore.Command{}
	check("Command", cmd, func() any { return commandView(*cmd) })
	sc := &ci.Schedule{}
	check("Schedule", sc, func() any { return scheduleView(sc) })
	nv := &notification.View{}
	check("Notification", nv, func() any { return notificationView(nv) })
}

// A pipeline stored before problems were kept has its errors as text
// only: the API serves them positioned all the same.
func TestPipelineViewReadsOldDiagnostics(t *testing.T) {
	old := &ci.Pipeline{Diagnostics: ".semaphore/semaphore.yml:8:19: unknown block \"Nope\"\nno position here"}
	got := pipelineView(old).Problems
	want := []apiv1.Diagnostic{
		{File: ".semaphore/semaphore.yml", Line: 8, Column: 19, Message: `unknown block "Nope"`, Severity: apiv1.SeverityError},
		{Message: "no position here", Severity: apiv1.SeverityError},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %+v, want %+v", got, want)
	}
	stored := &ci.Pipeline{Diagnostics: "text", Problems: []ci.Diagnostic{{File: "f.yml", Line: 1, Column: 2, Message: "m", Severity: ci.SeverityWarning}}}
	if got := pipelineView(stored).Problems; len(got) != 1 || got[0].Severity != apiv1.SeverityWarning || got[0].Column != 2 {
		t.Errorf("stored problems = %+v, want them as stored", got)
	}
}
