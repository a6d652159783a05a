// Package semservice is sem-service's catalogue: the services a job may
// start (postgres, mysql, redis, mongodb, elasticsearch, memcached,
// rabbitmq), their versions, official images, ports and the variables
// that --username, --password and --db become, as Semaphore's sem-service
// has them. Plan turns a job's request into a Spec and is the only way to
// one: a job names a service and a version from the catalogue and three
// plain values, never an image, a flag, a mount or a port.
//
// The package is pure (standard library only); the job service
// (internal/jobsvc) validates requests with it and the Docker executor
// (internal/executor/docker) runs the Specs.
package semservice

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Request is what a job asks for: `sem-service start SERVICE [VERSION]
// [--username U --password P --db D]`.
type Request struct {
	Service  string `json:"service"`
	Version  string `json:"version,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	DB       string `json:"db,omitempty"`
}

// Spec is a service container to run: made by Plan only.
type Spec struct {
	// Service is the catalogue's name (postgres, mysql...).
	Service string `json:"service"`
	// Version is the version asked for, or the service's default.
	Version string `json:"version"`
	// Image is the official image for that version (postgres:9.6).
	Image string `json:"image"`
	// Ports are the TCP ports the service listens on, the first one the
	// one that says it is ready.
	Ports []int `json:"ports"`
	// Env are the container's variables (KEY=VALUE).
	Env []string `json:"-"`
	// Args are the arguments after the image (the image's command).
	Args []string `json:"-"`
	// Access says how to sign in ("username 'postgres' and blank
	// password"); "" when the service has no users.
	Access string `json:"access,omitempty"`
}

// Info is a started service, as `sem-service status` shows it.
type Info struct {
	Service string `json:"service"`
	Version string `json:"version"`
	Image   string `json:"image"`
	Ports   []int  `json:"ports"`
	Running bool   `json:"running"`
	Access  string `json:"access,omitempty"`
}

// service is one catalogue entry.
type service struct {
	name     string
	title    string // as messages write it
	image    string // the official image's repository
	def      string // default version
	versions []string
	ports    []int
	// creds turns the request's username, password and database into the
	// container's variables and says how to sign in; nil when the
	// service takes none.
	creds func(r Request) (env []string, access string)
	// userNeedsPassword: the image refuses a --username without a
	// --password (mysql, mongo).
	userNeedsPassword bool
	env               []string
	args              []string
}

func catalogue() []service {
	return []service{
		{name: "postgres", title: "PostgreSQL", image: "postgres", def: "9.6",
			versions: strings.Fields("9.4 9.5 9.6 10 11 12 13 14 15 16 17"),
			ports:    []int{5432},
			creds: func(r Request) ([]string, string) {
				user := cmpOr(r.Username, "postgres")
				env := []string{"POSTGRES_USER=" + user, "POSTGRES_DB=" + cmpOr(r.DB, user)}
				if r.Password == "" {
					return append(env, "POSTGRES_HOST_AUTH_METHOD=trust"), fmt.Sprintf("username '%s' and blank password", user)
				}
				return append(env, "POSTGRES_PASSWORD="+r.Password), fmt.Sprintf("username '%s' and the password given", user)
			}},
		{name: "mysql", title: "MySQL", image: "mysql", def: "5.6",
			versions: strings.Fields("5.5 5.6 5.7 8.0 8"),
			ports:    []int{3306}, userNeedsPassword: true,
			creds: func(r Request) ([]string, string) {
				env := []string{"MYSQL_ALLOW_EMPTY_PASSWORD=true"}
				access := "username 'root' and blank password"
				if r.Username != "" && r.Username != "root" {
					env = append(env, "MYSQL_USER="+r.Username, "MYSQL_PASSWORD="+r.Password)
					access = fmt.Sprintf("username '%s' (or 'root' with a blank password)", r.Username)
				}
				if r.DB != "" {
					env = append(env, "MYSQL_DATABASE="+r.DB)
				}
				return env, access
			}},
		{name: "redis", title: "Redis", image: "redis", def: "4",
			versions: strings.Fields("2.8 3.2 4.0 4 5.0 5 6.0 6.2 6 7.0 7 7.2 7.4"),
			ports:    []int{6379}, args: []string{"--appendonly", "yes"}},
		{name: "mongodb", title: "MongoDB", image: "mongo", def: "4.1",
			versions: strings.Fields("3.2 3.6 4.0 4.1 4.2 4.4 4 5.0 5 6.0 6 7.0 7"),
			ports:    []int{27017}, userNeedsPassword: true,
			creds: func(r Request) ([]string, string) {
				var env []string
				access := ""
				if r.Username != "" {
					env = append(env, "MONGO_INITDB_ROOT_USERNAME="+r.Username, "MONGO_INITDB_ROOT_PASSWORD="+r.Password)
					access = fmt.Sprintf("username '%s' and the password given", r.Username)
				}
				if r.DB != "" {
					env = append(env, "MONGO_INITDB_DATABASE="+r.DB)
				}
				return env, access
			}},
		{name: "elasticsearch", title: "Elasticsearch", image: "elasticsearch", def: "6.5.1",
			versions: strings.Fields("6.5.1 6.8.13 7.1.1 7.9.3 7.17.7 8.5.1"),
			ports:    []int{9200, 9300}, env: []string{"discovery.type=single-node"}},
		{name: "memcached", title: "memcached", image: "memcached", def: "1.5",
			versions: strings.Fields("1.5 1.6"), ports: []int{11211}},
		{name: "rabbitmq", title: "RabbitMQ", image: "rabbitmq", def: "3.8",
			versions: strings.Fields("3.6 3.8 3.9 3.10 3.11 3.12 3"), ports: []int{5672}},
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Names lists the services, in the catalogue's order.
func Names() []string {
	var out []string
	for _, s := range catalogue() {
		out = append(out, s.name)
	}
	return out
}

// Title is how messages name a service ("PostgreSQL"), or name itself.
func Title(name string) string {
	for _, s := range catalogue() {
		if s.name == name {
			return s.title
		}
	}
	return name
}

// ErrInvalid marks a request the catalogue refuses; its message says what
// is wrong and what is available.
var ErrInvalid = errors.New("invalid service request")

// invalidError is a refused request: its message, and Is(ErrInvalid).
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// ErrRunning is returned when a job starts a service it already started.
var ErrRunning = errors.New("already running")

// maxValue bounds a username, password or database name.
const maxValue = 128

// Plan checks a request against the catalogue and returns the container
// to run. A request for an unknown service, a version the catalogue does
// not list, or a value with control characters is refused with
// ErrInvalid and a message that names it and what is available.
func Plan(r Request) (Spec, error) {
	i := slices.IndexFunc(catalogue(), func(s service) bool { return s.name == r.Service })
	if i < 0 {
		return Spec{}, invalid("unknown service %q; sem-service starts %s", r.Service, strings.Join(Names(), ", "))
	}
	s := catalogue()[i]
	v := cmpOr(r.Version, s.def)
	if !slices.Contains(s.versions, v) {
		return Spec{}, invalid("%s version %q is not available; versions: %s (default %s)", s.name, v, strings.Join(s.versions, ", "), s.def)
	}
	for _, f := range []struct{ name, value string }{{"--username", r.Username}, {"--password", r.Password}, {"--db", r.DB}} {
		if len(f.value) > maxValue {
			return Spec{}, invalid("%s is longer than %d bytes", f.name, maxValue)
		}
		if strings.IndexFunc(f.value, unicode.IsControl) >= 0 {
			return Spec{}, invalid("%s has a control character", f.name)
		}
	}
	if s.creds == nil && (r.Username != "" || r.Password != "" || r.DB != "") {
		return Spec{}, invalid("%s takes no --username, --password or --db", s.name)
	}
	// MySQL's root is the image's own user, blank password allowed.
	if s.userNeedsPassword && r.Username != "" && r.Password == "" && !(s.name == "mysql" && r.Username == "root") {
		return Spec{}, invalid("%s: --username %s needs a --password", s.name, r.Username)
	}
	spec := Spec{Service: s.name, Version: v, Image: s.image + ":" + v, Ports: slices.Clone(s.ports),
		Env: slices.Clone(s.env), Args: slices.Clone(s.args)}
	if s.creds != nil {
		env, access := s.creds(r)
		spec.Env = append(spec.Env, env...)
		spec.Access = access
	}
	return spec, nil
}

// Info is the status view of a Spec.
func (s Spec) Info(running bool) Info {
	return Info{Service: s.Service, Version: s.Version, Image: s.Image, Ports: slices.Clone(s.Ports), Running: running, Access: s.Access}
}
