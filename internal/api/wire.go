package api

import (
	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/artifact"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/notification"
	"github.com/batonci/baton/internal/repourl"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

// The domain objects as the contract (internal/apiv1) shows them. A nil
// object stays nil.

// each converts a slice with f, never returning nil (the API answers []
// rather than null).
func each[T, U any](in []T, f func(T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}

func projectView(p *ci.Project) *apiv1.Project {
	if p == nil {
		return nil
	}
	return &apiv1.Project{ID: p.ID, Name: p.Name, RepoURL: repourl.Redact(p.RepoURL), DefaultBranch: p.DefaultBranch,
		PipelineFile: p.PipelineFile, Public: p.Public, DeploymentDetailsPublic: p.DeploymentDetailsPublic, PollInterval: p.PollInterval, Forge: p.Forge,
		ForgeURL: p.ForgeURL, ForgeRepo: p.ForgeRepo, CreatedAt: p.CreatedAt}
}

func workflowView(w *ci.Workflow) *apiv1.Workflow {
	if w == nil {
		return nil
	}
	return &apiv1.Workflow{ID: w.ID, ProjectID: w.ProjectID, Number: w.Number, Trigger: string(w.Trigger),
		RefType: w.RefType, Branch: w.Branch, Tag: w.Tag, PR: w.PR, PRBranch: w.PRBranch, PRSHA: w.PRSHA,
		PRName: w.PRName, PRSlug: w.PRSlug, PRHeadURL: w.PRHeadURL, PRFork: w.PRFork, RefVerified: w.RefVerified,
		SHA: w.SHA, CommitRange: w.CommitRange, Message: w.Message, Author: w.Author, TriggeredBy: w.TriggeredBy,
		RerunOf: w.RerunOf, CreatedAt: w.CreatedAt, State: apiv1.State(w.State), Result: apiv1.Result(w.Result),
		Schedule: w.Schedule, Parameters: w.Parameters}
}

func pipelineView(p *ci.Pipeline) *apiv1.Pipeline {
	if p == nil {
		return nil
	}
	v := &apiv1.Pipeline{ID: p.ID, WorkflowID: p.WorkflowID, ProjectID: p.ProjectID, Name: p.Name, File: p.File,
		State: apiv1.State(p.State), Result: apiv1.Result(p.Result), Reason: apiv1.Reason(p.Reason),
		Queue: p.Queue, QueueScope: p.QueueScope, Parallel: p.Parallel, AutoCancel: p.AutoCancel,
		FailFast: p.FailFast, TimeLimit: p.TimeLimit, Diagnostics: p.Diagnostics,
		PromotionOf: p.PromotionOf, PromotedBy: p.PromotedBy, PartialRerun: p.PartialRerun,
		CreatedAt: p.CreatedAt, StartedAt: p.StartedAt, DoneAt: p.DoneAt, Promotion: p.Promotion,
		DeploymentTarget: p.DeploymentTarget, DetailsHidden: p.DetailsHidden, Problems: problemViews(p)}
	if len(p.Blocks) > 0 {
		v.Blocks = each(p.Blocks, blockView)
	}
	return v
}

// problemViews are a pipeline's positioned problems; a pipeline stored
// before they were kept has its errors as text only, read here.
func problemViews(p *ci.Pipeline) []apiv1.Diagnostic {
	if len(p.Problems) == 0 {
		return apiv1.ParseDiagnostics(p.Diagnostics, apiv1.SeverityError)
	}
	out := make([]apiv1.Diagnostic, len(p.Problems))
	for i, d := range p.Problems {
		out[i] = apiv1.Diagnostic{File: d.File, Line: d.Line, Column: d.Column, Message: d.Message,
			Severity: apiv1.Severity(d.Severity)}
	}
	return out
}

func blockView(b *ci.Block) *apiv1.Block {
	v := &apiv1.Block{ID: b.ID, PipelineID: b.PipelineID, Index: b.Index, Name: b.Name, Dependencies: b.Dependencies,
		State: apiv1.State(b.State), Result: apiv1.Result(b.Result), Reason: apiv1.Reason(b.Reason),
		Skipped: b.Skipped, TimeLimit: b.TimeLimit, FailFast: b.FailFast, StartedAt: b.StartedAt,
		DoneAt: b.DoneAt, AfterPipeline: b.AfterPipeline}
	if len(b.Jobs) > 0 {
		v.Jobs = each(b.Jobs, jobView)
	}
	return v
}

func jobView(j *ci.Job) *apiv1.Job {
	if j == nil {
		return nil
	}
	return &apiv1.Job{ID: j.ID, PipelineID: j.PipelineID, BlockID: j.BlockID, ProjectID: j.ProjectID, Index: j.Index,
		Name: j.Name, State: apiv1.State(j.State), Result: apiv1.Result(j.Result), Reason: apiv1.Reason(j.Reason),
		MachineType: j.MachineType, Priority: j.Priority, NeedsDocker: j.NeedsDocker, AgentID: j.AgentID,
		WaitReason: j.WaitReason, StopRequested: j.StopRequested, TimeLimit: j.TimeLimit, CreatedAt: j.CreatedAt,
		QueuedAt: j.QueuedAt, StartedAt: j.StartedAt, DoneAt: j.DoneAt}
}

func agentView(a *ci.Agent) *apiv1.Agent {
	var pruning *apiv1.ImagePruning
	if p := a.ImagePruning; p != nil {
		pruning = &apiv1.ImagePruning{Removed: p.Removed, Bytes: p.Bytes, LastAt: p.LastAt, Last: p.Last}
	}
	return &apiv1.Agent{ImagePruning: pruning, ID: a.ID, Name: a.Name, Type: a.Type, Slots: a.Slots, Version: a.Version,
		Hostname: a.Hostname, State: string(a.State), Executors: a.Executors, Images: a.Images,
		LastSeen: a.LastSeen, CreatedAt: a.CreatedAt, Running: a.Running}
}

func userView(u *ci.User) *apiv1.User {
	if u == nil {
		return nil
	}
	return &apiv1.User{ID: u.ID, Login: u.Login, Admin: u.Admin, CanCreateProjects: u.CanCreateProjects, CreatedAt: u.CreatedAt}
}

func memberView(m *store.Member) *apiv1.Member {
	return &apiv1.Member{ProjectID: m.ProjectID, UserID: m.UserID, Login: m.Login, Role: m.Role, CreatedAt: m.CreatedAt}
}

func auditView(e *store.AuditEvent) *apiv1.AuditEvent {
	return &apiv1.AuditEvent{Seq: e.Seq, At: e.At, Action: e.Action, Actor: e.Actor, Target: e.Target,
		ProjectID: e.ProjectID, IP: e.IP, Detail: e.Detail}
}

func debugSessionView(s *store.DebugSession) *apiv1.DebugSession {
	return &apiv1.DebugSession{ID: s.ID, JobID: s.JobID, ProjectID: s.ProjectID, AgentID: s.AgentID, Login: s.Login,
		Kind: s.Kind, State: s.State, CreatedAt: s.CreatedAt, OpenedAt: s.OpenedAt, ClosedAt: s.ClosedAt}
}

func targetMetaView(m *vault.TargetMeta) *apiv1.Target {
	if m == nil {
		return nil
	}
	return &apiv1.Target{ID: m.ID, ProjectID: m.ProjectID, Name: m.Name, Description: m.Description, Users: m.Users,
		Roles: m.Roles, Branches: m.Branches, Tags: m.Tags, AllowPRs: m.AllowPRs, EnvVars: m.EnvVars, Files: m.Files,
		CreatedAt: m.CreatedAt, CreatedBy: m.CreatedBy, UpdatedAt: m.UpdatedAt, UpdatedBy: m.UpdatedBy}
}

func secretMetaView(m *vault.Meta) *apiv1.SecretMeta {
	if m == nil {
		return nil
	}
	return &apiv1.SecretMeta{ID: m.ID, ProjectID: m.ProjectID, Name: m.Name, Description: m.Description,
		AllowForks: m.AllowForks, ProjectAccess: m.ProjectAccess, ProjectIDs: m.ProjectIDs, EnvVars: m.EnvVars,
		Files: m.Files, CreatedAt: m.CreatedAt, CreatedBy: m.CreatedBy, UpdatedAt: m.UpdatedAt, UpdatedBy: m.UpdatedBy}
}

func artifactView(e artifact.Entry) apiv1.Artifact {
	return apiv1.Artifact{Path: e.Path, Size: e.Size, Scope: e.Scope, CreatedAt: e.CreatedAt}
}

func logLineView(l logstore.Line) apiv1.LogLine {
	return apiv1.LogLine{N: l.N, Text: l.Text, Cmd: l.Cmd, Kind: l.Kind, At: apiv1.Timestamp(l.At)}
}

func commandView(c logstore.Command) apiv1.Command {
	return apiv1.Command{Index: c.Index, Directive: c.Directive, ExitCode: c.ExitCode,
		StartedAt: (*apiv1.Timestamp)(c.StartedAt), FinishedAt: (*apiv1.Timestamp)(c.FinishedAt),
		FirstLine: c.FirstLine, LastLine: c.LastLine}
}

func notificationView(v *notification.View) *apiv1.Notification {
	if v == nil {
		return nil
	}
	out := &apiv1.Notification{ID: v.ID, Name: v.Name, Projects: v.Projects, Branches: v.Branches, Pipelines: v.Pipelines,
		Results: v.Results, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, UpdatedAt: v.UpdatedAt, UpdatedBy: v.UpdatedBy}
	if v.Slack != nil {
		out.Slack = &apiv1.NotificationSlack{Endpoint: v.Slack.Endpoint, Channels: v.Slack.Channels}
	}
	if v.Webhook != nil {
		out.Webhook = &apiv1.NotificationWebhook{Endpoint: v.Webhook.Endpoint, Secret: v.Webhook.Secret}
	}
	return out
}

func scheduleView(s *ci.Schedule) *apiv1.Schedule {
	if s == nil {
		return nil
	}
	var params []apiv1.Parameter // nil stays null, as the domain's JSON has it
	if s.Parameters != nil {
		params = each(s.Parameters, parameterView)
	}
	return &apiv1.Schedule{ID: s.ID, ProjectID: s.ProjectID, Name: s.Name, Cron: s.Cron, Timezone: s.Timezone, Branch: s.Branch,
		PipelineFile: s.PipelineFile, Parameters: params, Paused: s.Paused, NextRun: s.NextRun,
		LastRun: s.LastRun, LastWorkflow: s.LastWorkflow, LastError: s.LastError, CreatedAt: s.CreatedAt, CreatedBy: s.CreatedBy,
		UpdatedAt: s.UpdatedAt, UpdatedBy: s.UpdatedBy}
}

func parameterView(p ci.Parameter) apiv1.Parameter {
	return apiv1.Parameter{Name: p.Name, Description: p.Description, Required: p.Required, Options: p.Options, DefaultValue: p.DefaultValue}
}

func ciParameter(p apiv1.Parameter) ci.Parameter {
	return ci.Parameter{Name: p.Name, Description: p.Description, Required: p.Required, Options: p.Options, DefaultValue: p.DefaultValue}
}
