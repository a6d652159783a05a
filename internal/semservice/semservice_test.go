package semservice

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		name      string
		req       Request
		image     string
		ports     []int
		env, args []string
		access    string
	}{
		{"postgres default", Request{Service: "postgres"}, "postgres:9.6", []int{5432},
			[]string{"POSTGRES_USER=postgres", "POSTGRES_DB=postgres", "POSTGRES_HOST_AUTH_METHOD=trust"}, nil, "username 'postgres' and blank password"},
		{"postgres with credentials", Request{Service: "postgres", Version: "15", Username: "app", Password: "pw", DB: "appdb"}, "postgres:15", []int{5432},
			[]string{"POSTGRES_USER=app", "POSTGRES_DB=appdb", "POSTGRES_PASSWORD=pw"}, nil, "username 'app' and the password given"},
		{"mysql default", Request{Service: "mysql"}, "mysql:5.6", []int{3306},
			[]string{"MYSQL_ALLOW_EMPTY_PASSWORD=true"}, nil, "username 'root' and blank password"},
		{"mysql user and db", Request{Service: "mysql", Version: "8.0", Username: "u", Password: "p", DB: "d"}, "mysql:8.0", []int{3306},
			[]string{"MYSQL_ALLOW_EMPTY_PASSWORD=true", "MYSQL_USER=u", "MYSQL_PASSWORD=p", "MYSQL_DATABASE=d"}, nil, "username 'u' (or 'root' with a blank password)"},
		{"redis", Request{Service: "redis", Version: "7"}, "redis:7", []int{6379}, nil, []string{"--appendonly", "yes"}, ""},
		{"mongodb is the mongo image", Request{Service: "mongodb"}, "mongo:4.1", []int{27017}, nil, nil, ""},
		{"elasticsearch", Request{Service: "elasticsearch"}, "elasticsearch:6.5.1", []int{9200, 9300}, []string{"discovery.type=single-node"}, nil, ""},
		{"memcached", Request{Service: "memcached", Version: "1.6"}, "memcached:1.6", []int{11211}, nil, nil, ""},
		{"rabbitmq", Request{Service: "rabbitmq"}, "rabbitmq:3.8", []int{5672}, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Image != tt.image || !slices.Equal(got.Ports, tt.ports) || !slices.Equal(got.Env, tt.env) || !slices.Equal(got.Args, tt.args) || got.Access != tt.access {
				t.Errorf("Plan(%+v) = %+v, want image %s ports %v env %v args %v access %q", tt.req, got, tt.image, tt.ports, tt.env, tt.args, tt.access)
			}
		})
	}
}

func TestPlanRefuses(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want []string // in the message
	}{
		{"unknown service", Request{Service: "nginx"}, []string{`unknown service "nginx"`, "postgres, mysql, redis, mongodb, elasticsearch, memcached, rabbitmq"}},
		{"an image name", Request{Service: "alpine:latest"}, []string{`unknown service "alpine:latest"`}},
		{"unknown version", Request{Service: "redis", Version: "99"}, []string{`redis version "99" is not available`, "7.0, 7", "(default 4)"}},
		{"a tag with a registry", Request{Service: "postgres", Version: "15@sha256:abc"}, []string{`postgres version "15@sha256:abc" is not available`}},
		{"flags in a version", Request{Service: "postgres", Version: "15 --privileged"}, []string{"is not available"}},
		{"newline in a password", Request{Service: "postgres", Password: "a\nb"}, []string{"--password has a control character"}},
		{"long db", Request{Service: "mysql", DB: strings.Repeat("d", 200)}, []string{"--db is longer than 128 bytes"}},
		{"mysql user without a password", Request{Service: "mysql", Username: "u"}, []string{"mysql: --username u needs a --password"}},
		{"mongodb user without a password", Request{Service: "mongodb", Username: "u"}, []string{"mongodb: --username u needs a --password"}},
		{"credentials for redis", Request{Service: "redis", Username: "u"}, []string{"redis takes no --username"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plan(tt.req)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Plan(%+v) = %v, want ErrInvalid", tt.req, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
