package dispatch

import (
	"sync"
	"time"
)

// credentials remembers the agent credentials the database confirmed, so
// that an agent's requests (two polls, a log chunk and a result per job)
// are authenticated without a query each. An entry is trusted for a
// bounded time (Dispatcher.credTTL) after the database last confirmed it;
// the heartbeat confirms every entry again in one query per period and
// drops those whose credential was replaced or whose token was revoked.
// So a revoked token's agents are refused within credTTL on every server,
// and at once on the server that sees the revocation.
type credentials struct {
	mu     sync.Mutex
	byHash map[string]credEntry
}

// credEntry is a credential hash's agent and when the database last said
// so.
type credEntry struct {
	agentID   string
	confirmed time.Time
}

func newCredentials() *credentials {
	return &credentials{byHash: map[string]credEntry{}}
}

// agent returns the agent of a credential hash confirmed after since.
func (c *credentials) agent(hash string, since time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byHash[hash]
	if !ok || !e.confirmed.After(since) {
		return "", false
	}
	return e.agentID, true
}

// confirm records that the database said, at the moment at, that hash is
// agentID's credential.
func (c *credentials) confirm(hash, agentID string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byHash[hash]; ok && e.agentID == agentID && e.confirmed.After(at) {
		return
	}
	c.byHash[hash] = credEntry{agentID: agentID, confirmed: at}
}

// forgetAgent drops every credential of an agent (it registered again,
// its token was revoked).
func (c *credentials) forgetAgent(agentID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.byHash {
		if e.agentID == agentID {
			delete(c.byHash, h)
		}
	}
}

// agents returns the agents of the entries confirmed after since, and
// drops the older ones (their agents have not been heard from).
func (c *credentials) agents(since time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for h, e := range c.byHash {
		if !e.confirmed.After(since) {
			delete(c.byHash, h)
			continue
		}
		ids = append(ids, e.agentID)
	}
	return ids
}

// refresh applies what the database said at the moment at about the
// credentials of some agents (valid holds each agent's current credential
// hash, absent when it has none or its token was revoked): the entries
// that still hold are confirmed, the others dropped.
func (c *credentials) refresh(checked map[string]bool, valid map[string]string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.byHash {
		if !checked[e.agentID] {
			continue
		}
		if valid[e.agentID] != h {
			delete(c.byHash, h)
			continue
		}
		if at.After(e.confirmed) {
			c.byHash[h] = credEntry{agentID: e.agentID, confirmed: at}
		}
	}
}
