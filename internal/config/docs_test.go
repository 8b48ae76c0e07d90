package config

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/config.md from the schema")

const docsPath = "../../docs/config.md"

// TestConfigDocs fails when docs/config.md is not what Markdown generates.
// "go generate ./internal/config" runs it with -update to rewrite the file.
func TestConfigDocs(t *testing.T) {
	want := Markdown()
	if *update {
		if err := os.WriteFile(docsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("%v; run: go generate ./internal/config", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/config.md is stale: the config schema changed; run: go generate ./internal/config")
	}
}

// TestExampleParses checks that the example in the docs is a valid file.
func TestExampleParses(t *testing.T) {
	c := Default()
	c.Hostname = "mail.example.com"
	if _, err := (Options{ExternalCerts: true}).Parse("example.toml", c.TOML()); err != nil {
		t.Error(err)
	}
}
