package store

import (
	"context"

	"github.com/batonci/baton/internal/ci"
)

// ListGlobalTools returns the organisation's global tools, in the order
// they were set.
func (tx *Tx) ListGlobalTools() ([]ci.GlobalTool, error) {
	rows, err := tx.query(`SELECT kind, name, version FROM global_tools ORDER BY position`)
	if err != nil {
		return nil, wrap("list global tools", err)
	}
	defer rows.Close()
	tools := []ci.GlobalTool{}
	for rows.Next() {
		var t ci.GlobalTool
		if err := rows.Scan(&t.Kind, &t.Name, &t.Version); err != nil {
			return nil, wrap("list global tools", err)
		}
		tools = append(tools, t)
	}
	return tools, wrap("list global tools", rows.Err())
}

// ListGlobalTools returns the organisation's global tools.
func (db *DB) ListGlobalTools(ctx context.Context) ([]ci.GlobalTool, error) {
	return db.reader(ctx).ListGlobalTools()
}

// SetGlobalTools replaces the organisation's global tools.
func (tx *Tx) SetGlobalTools(tools []ci.GlobalTool) error {
	if _, err := tx.exec(`DELETE FROM global_tools`); err != nil {
		return wrap("set global tools", err)
	}
	for i, t := range tools {
		if _, err := tx.exec(`INSERT INTO global_tools (position, kind, name, version) VALUES ($1, $2, $3, $4)`, i, t.Kind, t.Name, t.Version); err != nil {
			return wrap("set global tools", err)
		}
	}
	return nil
}
