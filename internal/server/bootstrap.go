package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/store"
)

// Credentials are what a first start creates: the admin's password, an API
// token, and the token of the built-in agent.
type Credentials struct {
	Login      string
	Password   string // only on the first start
	APIToken   string // only on the first start
	AgentToken string
	// First reports whether this start created them.
	First bool
}

// Bootstrap creates the admin user, an API token (written to
// DataDir/admin-token, mode 0600) and an agent token for the built-in agent
// (kept in DataDir/agent-token) when the store has no users yet. Later
// starts reuse the agent token and create nothing.
func (s *Server) Bootstrap(ctx context.Context) (*Credentials, error) {
	agentTokenPath := filepath.Join(s.cfg.DataDir, "agent-token")
	users, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	if len(users) > 0 {
		tok, err := os.ReadFile(agentTokenPath)
		if err != nil {
			// The agent token file was lost: make a new one.
			t, err := s.NewAgentToken(ctx, users[0].ID, "built-in agent", "")
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(agentTokenPath, []byte(t), 0o600); err != nil {
				return nil, err
			}
			tok = []byte(t)
		}
		return &Credentials{Login: users[0].Login, AgentToken: string(tok)}, nil
	}
	c := &Credentials{Login: "admin", Password: auth.NewPassword(), First: true}
	hash, err := auth.HashPassword(c.Password)
	if err != nil {
		return nil, err
	}
	u := &ci.User{ID: ids.New(), Login: c.Login, Admin: true}
	apiTok, apiHash := auth.NewToken("bat_")
	err = s.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateUser(u, hash); err != nil {
			return err
		}
		return tx.CreateToken(&store.Token{ID: ids.New(), UserID: u.ID, Name: "admin (created by baton up)", Hash: apiHash, Kind: "api"})
	})
	if err != nil {
		return nil, fmt.Errorf("create the admin user: %w", err)
	}
	c.APIToken = apiTok
	if c.AgentToken, err = s.NewAgentToken(ctx, u.ID, "built-in agent", ""); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.cfg.DataDir, "admin-token"), []byte(apiTok+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(agentTokenPath, []byte(c.AgentToken), 0o600); err != nil {
		return nil, err
	}
	return c, nil
}

// NewAgentToken creates a token agents register with; agentType limits it
// to agents of that type ("" = any).
func (s *Server) NewAgentToken(ctx context.Context, userID, name, agentType string) (string, error) {
	tok, hash := auth.NewToken("bag_")
	err := s.Store.Tx(ctx, func(tx *store.Tx) error {
		return tx.CreateToken(&store.Token{ID: ids.New(), UserID: userID, Name: name, Hash: hash, Kind: "agent", AgentType: agentType})
	})
	if err != nil {
		return "", fmt.Errorf("create an agent token: %w", err)
	}
	return tok, nil
}
