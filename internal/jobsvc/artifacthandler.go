package jobsvc

import "net/http"

// ArtifactHandler serves the artifact endpoints of the job service
// (/v1/artifacts/{scope}/{path...}) for scope, over storage, without a
// token: the caller has authenticated the request and set scope from
// what it knows of the job. The server serves its agents' artifact
// requests with it, so the rules (own job and workflow only for writes,
// the project's artifacts read-only for forks) are the job service's.
func ArtifactHandler(scope Scope, storage ArtifactStorage) http.Handler {
	s := &Service{cfg: Config{Scope: scope, Artifacts: storage}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/artifacts/{scope}/{path...}", s.artifactGet)
	mux.HandleFunc("PUT /v1/artifacts/{scope}/{path...}", s.artifactPut)
	mux.HandleFunc("DELETE /v1/artifacts/{scope}/{path...}", s.artifactDelete)
	return mux
}
