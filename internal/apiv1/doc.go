// Package apiv1 is the contract of Baton's REST API under /api/v1: the
// request and response bodies of every endpoint, the error body, the
// positioned diagnostics of pipeline files. internal/apiclient is the one
// client the CLI, the tests and the benchmarks call the API with (the web
// pages call the API in-process and decode into these same types).
//
// It imports only the standard library (an archtest checks), so that
// every program that speaks the API can depend on it and no other package
// defines a copy of a response. The server (internal/api) converts its
// domain objects into these types; the JSON field names are the API's.
package apiv1
