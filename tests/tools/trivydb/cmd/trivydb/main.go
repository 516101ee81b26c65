// Command trivydb writes a small Trivy vulnerability database (trivy.db + metadata.json, schema 2)
// from a JSON list of advisories, so scanner tests run the real Trivy offline against known data.
//
//	trivydb -in advisories.json -out DIR
//
// The input is {"advisories": [{"bucket": "alpine 3.20", "package": "busybox",
// "id": "CVE-…", "fixedVersion": "1.36.1-r30", "severity": "HIGH", "title": "…"}]}.
// The bucket is the name Trivy looks advisories up under ("<os family> <release>"); each
// advisory is stored in that bucket's package sub-bucket keyed by the vulnerability id, and its
// details (title, severity) in the "vulnerability" bucket, in the value types of trivy-db itself
// so the JSON matches what the pinned Trivy reads.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
	bolt "go.etcd.io/bbolt"
)

// schemaVersion is the Trivy DB schema the pinned Trivy accepts with --skip-db-update.
const schemaVersion = 2

type advisory struct {
	Bucket       string `json:"bucket"`
	Package      string `json:"package"`
	ID           string `json:"id"`
	FixedVersion string `json:"fixedVersion"`
	Severity     string `json:"severity"`
	Title        string `json:"title"`
	Description  string `json:"description"`
}

type input struct {
	Advisories []advisory `json:"advisories"`
}

func main() {
	in := flag.String("in", "", "JSON file with the advisories")
	out := flag.String("out", "", "directory to write trivy.db and metadata.json into")
	flag.Parse()
	if *in == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: trivydb -in advisories.json -out DIR")
		os.Exit(2)
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "trivydb:", err)
		os.Exit(1)
	}
}

func run(inPath, outDir string) error {
	raw, err := os.ReadFile(inPath)
	if err != nil {
		return err
	}
	var doc input
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", inPath, err)
	}
	for i, adv := range doc.Advisories {
		if err := validate(adv); err != nil {
			return fmt.Errorf("advisory %d: %w", i, err)
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	dbPath := filepath.Join(outDir, "trivy.db")
	// A fresh file each time: stale advisories from an earlier run must not survive.
	if err := os.Remove(dbPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	boltDB, err := bolt.Open(dbPath, 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	if err := boltDB.Update(func(tx *bolt.Tx) error { return write(tx, doc.Advisories) }); err != nil {
		_ = boltDB.Close()
		return err
	}
	if err := boltDB.Close(); err != nil {
		return err
	}
	now := time.Now().UTC()
	// DownloadedAt set: Trivy treats a zero value as a possibly corrupted download.
	return metadata.NewClient(outDir).Update(metadata.Metadata{
		Version: schemaVersion, NextUpdate: now.Add(24 * time.Hour), UpdatedAt: now, DownloadedAt: now,
	})
}

func validate(adv advisory) error {
	if adv.Bucket == "" || adv.Package == "" || adv.ID == "" {
		return errors.New("bucket, package and id are required")
	}
	_, err := types.NewSeverity(strings.ToUpper(adv.Severity))
	return err
}

func put(tx *bolt.Tx, path []string, key string, value any) error {
	bucket, err := tx.CreateBucketIfNotExists([]byte(path[0]))
	if err != nil {
		return err
	}
	for _, name := range path[1:] {
		if bucket, err = bucket.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	encoded, err := json.Marshal(value)
	if err != nil {
		return err
	}
	return bucket.Put([]byte(key), encoded)
}

func write(tx *bolt.Tx, advisories []advisory) error {
	for _, adv := range advisories {
		family := strings.SplitN(adv.Bucket, " ", 2)[0]
		if err := put(tx, []string{adv.Bucket, adv.Package}, adv.ID, types.Advisory{FixedVersion: adv.FixedVersion}); err != nil {
			return err
		}
		source := types.DataSource{ID: types.SourceID(family), Name: adv.Bucket}
		if err := put(tx, []string{"data-source"}, adv.Bucket, source); err != nil {
			return err
		}
		severity, _ := types.NewSeverity(strings.ToUpper(adv.Severity)) // checked by validate
		detail := types.Vulnerability{
			Title:          adv.Title,
			Description:    adv.Description,
			Severity:       severity.String(),
			VendorSeverity: types.VendorSeverity{types.SourceID(family): severity},
		}
		if err := put(tx, []string{"vulnerability"}, adv.ID, detail); err != nil {
			return err
		}
	}
	return nil
}
