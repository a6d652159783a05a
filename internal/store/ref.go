package store

import "context"

// The poll state of a project: the commit each ref (branch or tag, named
// as the poller names them) pointed at when last seen.

// GetRefs returns a project's refs and the SHA each was last seen at; an
// empty map when none was.
func (tx *Tx) GetRefs(projectID string) (map[string]string, error) {
	type ref struct{ name, sha string }
	rs, err := collect(tx, func(s scanner) (r ref, err error) {
		err = s.Scan(&r.name, &r.sha)
		return r, err
	}, `SELECT ref, sha FROM refs WHERE project_id = $1`, projectID)
	if err != nil {
		return nil, wrap("get refs", err)
	}
	m := make(map[string]string, len(rs))
	for _, r := range rs {
		m[r.name] = r.sha
	}
	return m, nil
}

// GetRefs returns a project's refs and the SHA each was last seen at; an
// empty map when none was.
func (db *DB) GetRefs(ctx context.Context, projectID string) (map[string]string, error) {
	return db.reader(ctx).GetRefs(projectID)
}

// SetRef records that a project's ref was seen at sha.
func (tx *Tx) SetRef(projectID, ref, sha string) error {
	_, err := tx.exec(`INSERT INTO refs (project_id, ref, sha) VALUES ($1, $2, $3)
		ON CONFLICT (project_id, ref) DO UPDATE SET sha = excluded.sha`, projectID, ref, sha)
	return wrap("set ref "+ref, err)
}

// DeleteRef forgets a project's ref; forgetting a ref not stored is no
// error.
func (tx *Tx) DeleteRef(projectID, ref string) error {
	_, err := tx.exec(`DELETE FROM refs WHERE project_id = $1 AND ref = $2`, projectID, ref)
	return wrap("delete ref "+ref, err)
}

// CompareAndSetRef moves a project's ref from old to sha ("" old: the ref
// is new; "" sha: it was deleted) only if it still points at old, and
// reports whether it did. Pollers and webhook handlers on several servers
// use it so that exactly one of them builds each push.
func (db *DB) CompareAndSetRef(ctx context.Context, projectID, ref, old, sha string) (bool, error) {
	won := false
	err := db.Tx(ctx, func(tx *Tx) error {
		var res interface{ RowsAffected() (int64, error) }
		var err error
		switch {
		case old == "" && sha == "":
			return nil
		case old == "":
			res, err = tx.exec(`INSERT INTO refs (project_id, ref, sha) VALUES ($1, $2, $3)
				ON CONFLICT (project_id, ref) DO NOTHING`, projectID, ref, sha)
		case sha == "":
			res, err = tx.exec(`DELETE FROM refs WHERE project_id = $1 AND ref = $2 AND sha = $3`, projectID, ref, old)
		default:
			res, err = tx.exec(`UPDATE refs SET sha = $1 WHERE project_id = $2 AND ref = $3 AND sha = $4`, sha, projectID, ref, old)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		won = n == 1
		return err
	})
	return won, wrap("compare and set ref "+ref, err)
}
