package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 stores objects in a bucket of S3-compatible object storage, under an
// optional key prefix. Uploads stream: an object up to smallObject bytes
// goes in one PUT, a larger one as a multipart upload of partSize parts
// (so an upload holds at most about smallObject+partSize bytes in memory)
// that the storage only shows once complete and that is aborted on
// failure.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string // "" or ending in "/"
	name   string
	// heads are the buffers that decide between one PUT and multipart.
	heads sync.Pool
}

var _ Store = (*S3)(nil)

const (
	smallObject = 1 << 20
	partSize    = 8 << 20
)

// S3Config configures an S3 store.
type S3Config struct {
	// Endpoint is the storage's base URL, http:// or https://.
	Endpoint  string
	Region    string
	Bucket    string
	Prefix    string
	AccessKey string
	SecretKey string
	// Transport, when set, carries the requests (tests inject faults).
	Transport http.RoundTripper
}

// NewS3 returns an S3 store; it does not contact the storage (see Check).
func NewS3(cfg S3Config) (*S3, error) {
	host, secure, err := splitEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or give a credentials file")
	}
	c, err := minio.New(host, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    secure,
		Region:    cfg.Region,
		Transport: cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	s := &S3{client: c, bucket: cfg.Bucket, prefix: prefix, name: "s3://" + cfg.Bucket + "/" + prefix}
	s.heads.New = func() any { b := make([]byte, smallObject); return &b }
	return s, nil
}

// String names the store, for messages.
func (s *S3) String() string { return s.name }

// Close implements io.Closer; there is nothing to release.
func (s *S3) Close() error { return nil }

// Check reaches the storage and confirms the bucket exists and the
// credentials may read it.
func (s *S3) Check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("reach bucket %s: %w", s.bucket, s3Error(err))
	}
	if !ok {
		return fmt.Errorf("bucket %s does not exist", s.bucket)
	}
	for _, err := range s.List(ctx, "") {
		if err != nil {
			return err
		}
		break
	}
	return nil
}

// PutSized implements Store: up to partSize in one PUT, larger objects
// in partSize parts (or bigger ones, past 10,000 parts) sent as they are
// read.
func (s *S3) PutSized(ctx context.Context, key string, r io.Reader, size int64) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	if size < 0 {
		return Info{}, fmt.Errorf("put %s: %w: negative size %d", key, ErrSizeMismatch, size)
	}
	sr := &sizedReader{r: r, left: size}
	if size == 0 {
		// minio-go reads nothing for an empty object: check it is.
		if err := sr.probe(); err != io.EOF {
			return Info{}, fmt.Errorf("put %s: %w", key, err)
		}
	}
	opts := minio.PutObjectOptions{PartSize: partSize}
	if size > 10000*partSize {
		opts.PartSize = 0 // minio-go picks parts that fit S3's 10,000
	}
	body := ctxReader{ctx, sr}
	up, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, body, size, opts)
	if err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, s3Error(err))
	}
	return Info{Key: key, Size: up.Size, ModTime: up.LastModified}, nil
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	var body io.Reader
	size := int64(-1)
	if sized, ok := r.(interface{ Len() int }); ok && sized.Len() <= smallObject {
		// An in-memory reader (a log chunk): its size is known.
		body, size = ctxReader{ctx, r}, int64(sized.Len())
	} else {
		r = ctxReader{ctx, r}
		buf := s.heads.Get().(*[]byte)
		defer s.heads.Put(buf)
		head := *buf
		n, err := io.ReadFull(r, head)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			body, size = bytes.NewReader(head[:n]), int64(n)
		case err != nil:
			return Info{}, fmt.Errorf("put %s: %w", key, err)
		default:
			body = io.MultiReader(bytes.NewReader(head), r)
		}
	}
	up, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, body, size, minio.PutObjectOptions{PartSize: partSize})
	if err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, s3Error(err))
	}
	return Info{Key: key, Size: up.Size, ModTime: up.LastModified}, nil
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string, rg Range) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if rg.Offset < 0 || rg.Length < 0 {
		return nil, fmt.Errorf("get %s: negative range", key)
	}
	var opts minio.GetObjectOptions
	switch {
	case rg.Length > 0:
		opts.SetRange(rg.Offset, rg.Offset+rg.Length-1)
	case rg.Offset > 0:
		opts.SetRange(rg.Offset, 0)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+key, opts)
	if err == nil {
		_, err = obj.Stat() // sends the request
	}
	if err == nil {
		return obj, nil
	}
	if obj != nil {
		obj.Close()
	}
	if resp := minio.ToErrorResponse(err); resp.Code == "InvalidRange" || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		// The range starts at or past the end: reading at the end gives
		// nothing, past it is an error (the contract of Dir too).
		info, serr := s.Stat(ctx, key)
		if serr != nil {
			return nil, serr
		}
		if rg.Offset == info.Size {
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, fmt.Errorf("get %s at %d (size %d): %w", key, rg.Offset, info.Size, ErrInvalidRange)
	}
	return nil, fmt.Errorf("get %s: %w", key, s3Error(err))
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, s3Error(err))
	}
	return Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(s3Error(err), ErrNotFound) {
		return fmt.Errorf("delete %s: %w", key, s3Error(err))
	}
	return nil
}

// List implements Store.
func (s *S3) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		if err := validatePrefix(prefix); err != nil {
			yield(Info{}, err)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // stops the listing goroutine when the caller stops early
		for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
			if oi.Err != nil {
				yield(Info{}, fmt.Errorf("list %s: %w", prefix, s3Error(oi.Err)))
				return
			}
			if !yield(Info{Key: strings.TrimPrefix(oi.Key, s.prefix), Size: oi.Size, ModTime: oi.LastModified}, nil) {
				return
			}
		}
	}
}

// s3Error maps the storage's answers to this package's sentinels and
// keeps its message otherwise.
func s3Error(err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey" || resp.Code == "NotFound" && resp.Key != "":
		return ErrNotFound
	case resp.Code == "NoSuchBucket":
		return fmt.Errorf("bucket %s does not exist", resp.BucketName)
	case resp.Code == "AccessDenied" || resp.Code == "InvalidAccessKeyId" || resp.Code == "SignatureDoesNotMatch":
		return fmt.Errorf("access denied (%s): check the storage credentials", resp.Code)
	}
	var ue *url.Error
	if errors.As(err, &ue) && !errors.Is(err, context.Canceled) {
		// The request never got an answer: say so without the endpoint's
		// address, which may reach a job's log.
		cause := ue.Err
		var op *net.OpError
		if errors.As(cause, &op) {
			cause = op.Err
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, cause)
	}
	return err
}
