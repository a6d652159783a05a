package store

import "time"

// MarkAgentLost marks an agent lost if it is still connected or draining
// and was last seen before stale (or never), in one conditional update:
// of several servers noticing the same silent agent, exactly one gets
// true and declares the loss.
func (tx *Tx) MarkAgentLost(id string, stale time.Time) (bool, error) {
	res, err := tx.exec(`UPDATE agents SET state = 'lost'
		WHERE id = $1 AND state IN ('connected', 'draining') AND (last_seen IS NULL OR last_seen < $2)`, id, tx.ts(stale))
	if err != nil {
		return false, wrap("mark agent lost "+id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap("mark agent lost "+id, err)
	}
	return n == 1, nil
}
