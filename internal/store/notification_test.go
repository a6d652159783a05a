package store

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testNotifications(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	n := &Notification{Name: "team", Projects: []string{"app", "/^web-/"}, Branches: []string{"main"},
		Results: []string{"failed", "stopped"}, SlackEndpoint: "sealed-url", SlackChannels: []string{"#ci", "#dev"},
		WebhookEndpoint: "sealed-hook", WebhookSecret: "sealed-secret",
		CreatedAt: at(10, 0, 0), CreatedBy: "admin", UpdatedAt: at(10, 0, 0), UpdatedBy: "admin"}
	write(t, db, func(tx *Tx) error { return tx.CreateNotification(n) })
	got, err := db.GetNotification(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(n, got); diff != "" {
		t.Errorf("GetNotification (-want +got):\n%s", diff)
	}
	if byID, err := db.GetNotification(ctx, n.ID); err != nil || byID.Name != "team" {
		t.Errorf("by ID: %v, %v", byID, err)
	}
	err = db.Tx(ctx, func(tx *Tx) error { return tx.CreateNotification(&Notification{Name: "team"}) })
	wantErr(t, "same name", err, ErrConflict)

	n.Branches, n.WebhookEndpoint, n.WebhookSecret, n.UpdatedBy = nil, "", "", "root"
	write(t, db, func(tx *Tx) error { return tx.UpdateNotification(n) })
	got, _ = db.GetNotification(ctx, "team")
	if diff := cmp.Diff(n, got); diff != "" {
		t.Errorf("after update (-want +got):\n%s", diff)
	}
	write(t, db, func(tx *Tx) error { return tx.CreateNotification(&Notification{Name: "another"}) })
	all, err := db.ListNotifications(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "another" || all[1].Name != "team" {
		t.Fatalf("ListNotifications = %v, %v", all, err)
	}

	// The outbox: a pipeline's delivery to one target and channel once.
	now := at(11, 0, 0)
	ds := []*NotificationDelivery{
		{NotificationID: n.ID, PipelineID: "p1", Target: TargetSlack, Channel: "#ci", CreatedAt: now},
		{NotificationID: n.ID, PipelineID: "p1", Target: TargetSlack, Channel: "#dev", CreatedAt: now},
	}
	var k int
	write(t, db, func(tx *Tx) (err error) { k, err = tx.EnqueueNotificationDeliveries(ds); return })
	if k != 2 {
		t.Errorf("enqueued %d, want 2", k)
	}
	write(t, db, func(tx *Tx) (err error) {
		k, err = tx.EnqueueNotificationDeliveries([]*NotificationDelivery{
			{NotificationID: n.ID, PipelineID: "p1", Target: TargetSlack, Channel: "#ci", CreatedAt: now}})
		return
	})
	if k != 0 {
		t.Errorf("enqueued the same delivery again: %d", k)
	}
	// Test messages (no pipeline) are never merged.
	for range 2 {
		write(t, db, func(tx *Tx) (err error) {
			k, err = tx.EnqueueNotificationDeliveries([]*NotificationDelivery{
				{NotificationID: n.ID, Target: TargetWebhook, CreatedAt: now.Add(time.Hour)}})
			return
		})
		if k != 1 {
			t.Errorf("test delivery enqueued %d", k)
		}
	}

	if next, ok, err := db.NextNotificationDue(ctx); err != nil || !ok || !next.Equal(now.Truncate(time.Microsecond)) {
		t.Errorf("NextNotificationDue = %v %v %v", next, ok, err)
	}
	// Not due before now; then claimed by one owner only, until its lease ends.
	if c, err := db.ClaimNotificationDeliveries(ctx, "s1", now.Add(-time.Second), time.Minute, 10); err != nil || len(c) != 0 {
		t.Fatalf("claim before due: %v, %v", c, err)
	}
	c1, err := db.ClaimNotificationDeliveries(ctx, "s1", now, time.Minute, 1)
	if err != nil || len(c1) != 1 || c1[0].ClaimedBy != "s1" || c1[0].Attempts != 1 {
		t.Fatalf("claim = %+v, %v", c1, err)
	}
	c2, err := db.ClaimNotificationDeliveries(ctx, "s2", now, time.Minute, 10)
	if err != nil || len(c2) != 1 || c2[0].ID == c1[0].ID {
		t.Fatalf("second claim = %+v, %v", c2, err)
	}
	// s1 fails with a 500 and retries later; s2 succeeds.
	if err := db.FinishNotificationAttempt(ctx, "s1", c1[0].ID, NotificationAttempt{N: 1, At: now, HTTPStatus: 500, Error: "HTTP 500", Duration: 20 * time.Millisecond},
		DeliveryPending, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishNotificationAttempt(ctx, "s2", c2[0].ID, NotificationAttempt{N: 1, At: now, HTTPStatus: 200}, DeliverySent, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// s2 cannot finish s1's delivery.
	err = db.FinishNotificationAttempt(ctx, "s2", c1[0].ID, NotificationAttempt{N: 1, At: now, HTTPStatus: 200}, DeliverySent, time.Time{})
	wantErr(t, "finish another's claim", err, ErrNotFound)
	// A claim whose lease ran out is taken again by another sender.
	again, err := db.ClaimNotificationDeliveries(ctx, "s3", now.Add(time.Second), time.Minute, 10)
	if err != nil || len(again) != 1 || again[0].ID != c1[0].ID || again[0].Attempts != 2 {
		t.Fatalf("retry claim = %+v, %v", again, err)
	}
	lost, err := db.ClaimNotificationDeliveries(ctx, "s4", now.Add(time.Minute+time.Second), time.Minute, 10)
	if err != nil || len(lost) != 1 || lost[0].ID != c1[0].ID || lost[0].Attempts != 3 {
		t.Fatalf("claim after the lease = %+v, %v", lost, err)
	}
	err = db.FinishNotificationAttempt(ctx, "s3", c1[0].ID, NotificationAttempt{N: 2, At: now, Error: "timeout"}, DeliveryFailed, time.Time{})
	wantErr(t, "finish a lost claim", err, ErrNotFound)
	if err := db.FinishNotificationAttempt(ctx, "s4", c1[0].ID, NotificationAttempt{N: 3, At: now.Add(2 * time.Minute), HTTPStatus: 404, Error: "HTTP 404"},
		DeliveryFailed, time.Time{}); err != nil {
		t.Fatal(err)
	}

	list, err := db.ListNotificationDeliveries(ctx, n.ID, 10)
	if err != nil || len(list) != 4 {
		t.Fatalf("ListNotificationDeliveries = %v, %v", list, err)
	}
	var failed *NotificationDelivery
	for _, d := range list {
		if d.ID == c1[0].ID {
			failed = d
		}
	}
	if failed == nil || failed.State != DeliveryFailed || failed.HTTPStatus != 404 || failed.FinishedAt.IsZero() || len(failed.AttemptLog) != 3 {
		t.Fatalf("failed delivery = %+v", failed)
	}
	if codes := []int{failed.AttemptLog[0].HTTPStatus, failed.AttemptLog[1].HTTPStatus, failed.AttemptLog[2].HTTPStatus}; !slices.Equal(codes, []int{500, 0, 404}) ||
		failed.AttemptLog[0].Duration != 20*time.Millisecond || failed.AttemptLog[1].Error != "timeout" {
		t.Errorf("attempts = %+v", failed.AttemptLog)
	}

	write(t, db, func(tx *Tx) error { return tx.PruneNotificationDeliveries(n.ID, 3) })
	if list, _ := db.ListNotificationDeliveries(ctx, n.ID, 10); len(list) != 3 {
		t.Errorf("after prune to 3: %d", len(list))
	}
	// Deleting the notification deletes its deliveries.
	write(t, db, func(tx *Tx) error { return tx.DeleteNotification("team") })
	if list, _ := db.ListNotificationDeliveries(ctx, n.ID, 10); len(list) != 0 {
		t.Errorf("deliveries of a deleted notification: %d", len(list))
	}
	err = db.Tx(ctx, func(tx *Tx) error { return tx.DeleteNotification("team") })
	wantErr(t, "delete twice", err, ErrNotFound)
}

// testNotificationClaimsConcurrent: two servers' senders claiming the
// same outbox each take every delivery exactly once.
func testNotificationClaimsConcurrent(t *testing.T, e *testEnv) {
	const deliveries, senders = 300, 6
	dsn := e.newDSN(t)
	servers := []*DB{openDSN(t, dsn), openDSN(t, dsn)}
	n := &Notification{Name: "n"}
	write(t, servers[0], func(tx *Tx) error { return tx.CreateNotification(n) })
	now := at(12, 0, 0)
	write(t, servers[0], func(tx *Tx) error {
		var ds []*NotificationDelivery
		for i := range deliveries {
			ds = append(ds, &NotificationDelivery{NotificationID: n.ID, PipelineID: fmt.Sprint(i), Target: TargetSlack, CreatedAt: now})
		}
		_, err := tx.EnqueueNotificationDeliveries(ds)
		return err
	})
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for g := range senders {
		db := servers[g%2]
		owner := fmt.Sprint("sender-", g)
		wg.Go(func() {
			for {
				c, err := db.ClaimNotificationDeliveries(t.Context(), owner, now, time.Hour, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(c) == 0 {
					return
				}
				for _, d := range c {
					mu.Lock()
					seen[d.PipelineID]++
					mu.Unlock()
					if err := db.FinishNotificationAttempt(t.Context(), owner, d.ID, NotificationAttempt{N: d.Attempts, At: now, HTTPStatus: 200}, DeliverySent, time.Time{}); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != deliveries {
		t.Errorf("%d deliveries claimed, want %d", len(seen), deliveries)
	}
	for p, k := range seen {
		if k != 1 {
			t.Errorf("delivery of %s claimed %d times", p, k)
		}
	}
}
