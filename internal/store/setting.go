package store

import "context"

// GetSetting returns an instance-level setting; ErrNotFound when it was
// never set.
func (tx *Tx) GetSetting(key string) (string, error) {
	var v string
	err := tx.queryRow(`SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	return v, wrap("get setting "+key, err)
}

// GetSetting returns an instance-level setting; ErrNotFound when it was
// never set.
func (db *DB) GetSetting(ctx context.Context, key string) (string, error) {
	return db.reader(ctx).GetSetting(key)
}

// SetSetting sets an instance-level setting.
func (tx *Tx) SetSetting(key, value string) error {
	_, err := tx.exec(`INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return wrap("set setting "+key, err)
}
