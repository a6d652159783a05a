package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Config chooses and configures a Store.
type Config struct {
	// URL is "" (the default: DataDir/blobs), "file:///ABSOLUTE/PATH", or
	// "s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT&region=R".
	URL string
	// DataDir is the server's data directory, for the default.
	DataDir string
	// AccessKey and SecretKey are the S3 credentials.
	AccessKey string
	SecretKey string
}

// Backend is an opened Store; Close releases it.
type Backend interface {
	Store
	io.Closer
	fmt.Stringer
}

// Open parses cfg.URL, opens the store and checks that it works: the
// directory can be written, or the bucket exists and the credentials may
// list it. Errors name the URL.
func Open(ctx context.Context, cfg Config) (Backend, error) {
	b, err := open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage %s: %w", redactedURL(cfg.URL), err)
	}
	return b, nil
}

func open(ctx context.Context, cfg Config) (Backend, error) {
	if cfg.URL == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("no storage URL and no data directory")
		}
		return openDir(ctx, filepath.Join(cfg.DataDir, "blobs"))
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	if u.User != nil {
		return nil, errors.New("credentials do not belong in the URL: use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or a credentials file")
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, errors.New("a file URL has no host: file:///ABSOLUTE/PATH")
		}
		if u.RawQuery != "" {
			return nil, errors.New("a file URL takes no options")
		}
		if !filepath.IsAbs(u.Path) {
			return nil, errors.New("a file URL needs an absolute path: file:///ABSOLUTE/PATH")
		}
		return openDir(ctx, filepath.Clean(u.Path))
	case "s3":
		s3cfg, err := parseS3(u)
		if err != nil {
			return nil, err
		}
		s3cfg.AccessKey, s3cfg.SecretKey = cfg.AccessKey, cfg.SecretKey
		s, err := NewS3(s3cfg)
		if err != nil {
			return nil, err
		}
		if err := s.Check(ctx); err != nil {
			return nil, err
		}
		return s, nil
	default:
		return nil, fmt.Errorf("unknown scheme %q: use file:///PATH or s3://BUCKET/PREFIX?endpoint=URL", u.Scheme)
	}
}

func openDir(ctx context.Context, dir string) (Backend, error) {
	d, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	// Probe: the directory must take a write.
	if _, err := d.Put(ctx, "baton-probe", strings.NewReader("ok")); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.Delete(ctx, "baton-probe"); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func parseS3(u *url.URL) (S3Config, error) {
	var c S3Config
	c.Bucket = u.Host
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return c, fmt.Errorf("bucket name %q: %w", c.Bucket, err)
	}
	c.Prefix = strings.Trim(u.Path, "/")
	if c.Prefix != "" {
		if err := ValidateKey(c.Prefix); err != nil {
			return c, fmt.Errorf("prefix: %w", err)
		}
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region":
		default:
			return c, fmt.Errorf("unknown option %q (known: endpoint, region)", k)
		}
	}
	c.Region = q.Get("region")
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	c.Endpoint = q.Get("endpoint")
	if c.Endpoint == "" {
		c.Endpoint = "https://s3." + c.Region + ".amazonaws.com"
	}
	if _, _, err := splitEndpoint(c.Endpoint); err != nil {
		return c, err
	}
	return c, nil
}

// splitEndpoint turns http(s)://HOST[:PORT] into HOST[:PORT] and whether
// it uses TLS.
func splitEndpoint(endpoint string) (string, bool, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false, fmt.Errorf("endpoint %q: want http://HOST:PORT or https://HOST[:PORT]", endpoint)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("endpoint %q: want only a scheme, host and port", endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

// redactedURL drops any user information from a storage URL for messages.
func redactedURL(raw string) string {
	if raw == "" {
		return "(default)"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}

// ParseCredentials reads S3 credentials from a credentials file: either
// AWS's shared-credentials format (aws_access_key_id and
// aws_secret_access_key, in the [default] section when there are
// sections) or KEY=VALUE lines with AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY. Comments start with # or ;.
func ParseCredentials(data string) (access, secret string, err error) {
	section := ""
	for n, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return "", "", fmt.Errorf("credentials line %d: want KEY=VALUE", n+1)
		}
		if section != "" && section != "default" {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			access = v
		case "aws_secret_access_key":
			secret = v
		}
	}
	if access == "" || secret == "" {
		return "", "", errors.New("credentials file: want aws_access_key_id and aws_secret_access_key")
	}
	return access, secret, nil
}
