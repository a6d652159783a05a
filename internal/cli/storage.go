package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/batonci/baton/internal/blob"
)

// storageFlags are the object storage flags of 'baton up' and 'baton
// server'.
type storageFlags struct {
	url         *string
	credentials *string
}

func addStorageFlags(fs *flag.FlagSet, o *IO) storageFlags {
	return storageFlags{
		url: fs.String("storage", o.Getenv("BATON_STORAGE"), "object storage `URL` for logs, artifacts and caches: file:///PATH or\n"+
			"s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=R (default: DIR/blobs; env BATON_STORAGE)"),
		credentials: fs.String("storage-credentials", o.Getenv("BATON_STORAGE_CREDENTIALS"), "S3 credentials `FILE` (aws_access_key_id and aws_secret_access_key;\n"+
			"default: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"),
	}
}

// config builds the storage configuration: credentials from the file when
// one is given, else from the standard AWS variables. The file must not
// be readable by others.
func (f storageFlags) config(o *IO, dataDir string) (blob.Config, error) {
	cfg := blob.Config{URL: *f.url, DataDir: dataDir}
	if *f.credentials == "" {
		cfg.AccessKey, cfg.SecretKey = o.Getenv("AWS_ACCESS_KEY_ID"), o.Getenv("AWS_SECRET_ACCESS_KEY")
		return cfg, nil
	}
	path := *f.credentials
	if !filepath.IsAbs(path) {
		path = filepath.Join(o.Dir, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return cfg, fmt.Errorf("storage credentials: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return cfg, fmt.Errorf("storage credentials %s: readable by others (mode %04o); chmod 600 it", *f.credentials, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("storage credentials: %w", err)
	}
	cfg.AccessKey, cfg.SecretKey, err = blob.ParseCredentials(string(data))
	if err != nil {
		return cfg, fmt.Errorf("storage credentials %s: %w", *f.credentials, err)
	}
	return cfg, nil
}
