package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
)

// notificationsPage is the data of notifications.html: the organisation's
// notifications (rules and targets, endpoints as scheme and host only, as
// the API shows them) with each one's latest deliveries. Creating and
// changing rules is `baton notification create|update` (the page says so);
// sending a test message and deleting are forms here.
type notificationsPage struct {
	Notifications []notificationRow
	Done          string
	Error         string
}

// notificationRow is a notification and its latest deliveries.
type notificationRow struct {
	apiv1.Notification
	Deliveries []apiv1.NotificationDeliveryView
}

// deliveriesShown is how many deliveries the page shows per notification.
const deliveriesShown = 10

// PageTitle names the page.
func (notificationsPage) PageTitle() string { return "Notifications" }

// notifications lists the organisation's notifications (organisation
// admins; the API refuses everyone else and the page answers its refusal).
func (w *Web) notifications(rw http.ResponseWriter, r *http.Request) {
	w.renderNotifications(rw, r, http.StatusOK, notificationsPage{Done: r.URL.Query().Get("done")})
}

func (w *Web) renderNotifications(rw http.ResponseWriter, r *http.Request, code int, page notificationsPage) {
	var ns []apiv1.Notification
	if _, err := w.apiGet(r, "/api/v1/notifications", &ns); err != nil {
		w.fail(rw, r, err)
		return
	}
	for _, n := range ns {
		row := notificationRow{Notification: n}
		if _, err := w.apiGet(r, "/api/v1/notifications/"+url.PathEscape(n.Name)+"/deliveries?limit="+strconv.Itoa(deliveriesShown), &row.Deliveries); err != nil {
			w.fail(rw, r, err)
			return
		}
		page.Notifications = append(page.Notifications, row)
	}
	w.render(rw, r, code, "notifications.html", page)
}

// testNotification queues a sample message to every target of a
// notification; its outcome shows in the deliveries.
func (w *Web) testNotification(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	if _, err := w.apiDo(r, http.MethodPost, "/api/v1/notifications/"+url.PathEscape(r.PathValue("name"))+"/test", nil, nil); err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/settings/notifications", "notification-tested")
}

// deleteNotification deletes a notification; the form asks for its name
// again, as the project's delete does.
func (w *Web) deleteNotification(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	name := r.PathValue("name")
	if strings.TrimSpace(r.PostForm.Get("confirm")) != name {
		// The list answers the API's refusal (401, 403) first.
		w.renderNotifications(rw, r, http.StatusBadRequest, notificationsPage{Error: "Type " + name + " again to delete the notification."})
		return
	}
	if _, err := w.apiDo(r, http.MethodDelete, "/api/v1/notifications/"+url.PathEscape(name), nil, nil); err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/settings/notifications", "notification-deleted")
}
