package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// certs makes the default implicit-TLS listeners valid.
const certs = `
[tls]
cert_file = "/etc/posthorn/cert.pem"
key_file = "/etc/posthorn/key.pem"
`

// valid returns Default with the values of the certs snippet and hostname.
func valid() Config {
	c := Default()
	c.Hostname = "mail.example.com"
	c.TLS.CertFile, c.TLS.KeyFile = "/etc/posthorn/cert.pem", "/etc/posthorn/key.pem"
	return c
}

func TestParseGood(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		in   string
		want func(*Config)
	}{
		{"minimal", Options{}, `hostname = "mail.example.com"` + certs, func(*Config) {}},
		{"external certs", Options{ExternalCerts: true}, `hostname = "mail.example.com"`, func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" }},
		{"no tls listeners", Options{}, `
hostname = "mail.example.com"
[listen]
submissions = []
imaps = []
https = []
`, func(c *Config) {
			c.TLS.CertFile, c.TLS.KeyFile = "", ""
			c.Listen.Submissions, c.Listen.IMAPS, c.Listen.HTTPS = nil, nil, nil
		}},
		{"everything", Options{}, `
hostname = "Mail.Example.COM"
data_dir = "data"
user = ""
allow_root = true
[listen]
smtp = [":25"]
submission = ["127.0.0.1:587", "[::1]:587"]
submissions = ["localhost:0"]
imap = []
imaps = ["[fe80::1%eth0]:993"]
http = ["0.0.0.0:65535"]
https = ["0.0.0.0:0"]
[dns]
servers = ["127.0.0.1:5300", "[::1]:53"]
[log]
level = "trace"
format = "json"
` + certs, func(c *Config) {
			*c = Config{
				Hostname: "Mail.Example.COM", DataDir: "data", AllowRoot: true,
				Listen: Listen{
					SMTP: []string{":25"}, Submission: []string{"127.0.0.1:587", "[::1]:587"},
					Submissions: []string{"localhost:0"}, IMAPS: []string{"[fe80::1%eth0]:993"},
					HTTP: []string{"0.0.0.0:65535"}, HTTPS: []string{"0.0.0.0:0"},
				},
				DNS:    DNS{Servers: []string{"127.0.0.1:5300", "[::1]:53"}},
				TLS:    valid().TLS,
				ACME:   Default().ACME,
				Log:    Log{Level: "trace", Format: "json"},
				SMTP:   Default().SMTP,
				IMAP:   Default().IMAP,
				Auth:   Default().Auth,
				DKIM:   Default().DKIM,
				MTASTS: Default().MTASTS,
				Queue:  Default().Queue,
			}
		}},
		{"dotted and inline", Options{}, `
hostname = "mail.example.com"
log.level = "debug"
dns = { servers = ["192.0.2.1:53"] }
"tls"."cert_file" = '/c.pem'
tls.key_file = """/k.pem"""
`, func(c *Config) {
			c.Log.Level = "debug"
			c.DNS.Servers = []string{"192.0.2.1:53"}
			c.TLS.CertFile, c.TLS.KeyFile = "/c.pem", "/k.pem"
		}},
		{"unicode hostname", Options{}, "\uFEFFhostname = \"mail.bücher.example\"" + certs, func(c *Config) { c.Hostname = "mail.bücher.example" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opts.Parse("posthorn.toml", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := valid()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"unknown key", "# posthorn\n\nhostnme = \"x\"\nhostname = \"mail.example.com\"" + certs,
			`posthorn.toml:3: hostnme: unknown key`},
		{"unknown section", `hostname = "mail.example.com"` + certs + "\n[smtpd]\nport = 25\n",
			`posthorn.toml:6: smtpd: unknown key`},
		{"unknown key in section", `hostname = "mail.example.com"` + certs + "[listen]\nsmtpp = []\n",
			`posthorn.toml:6: listen.smtpp: unknown key`},
		{"quoted unknown key", `hostname = "mail.example.com"` + certs + "\"a b\" = 1\n",
			`posthorn.toml:5: tls."a b": unknown key`},
		{"not host:port", "hostname = \"mail.example.com\"\n\n\n\n\n[listen]\nsmtp = [\n  \"0.0.0.0:25\",\n  \"0.0.0.0\",\n]" + certs,
			`posthorn.toml:7: listen.smtp: "0.0.0.0" is not host:port`},
		{"bad port", `hostname = "mail.example.com"` + certs + "[listen]\nimap = [\"[::]:65536\", \"x:imap\", \":+1\"]\n",
			"posthorn.toml:6: listen.imap: \"[::]:65536\": port must be a number from 0 to 65535\n" +
				"posthorn.toml:6: listen.imap: \"x:imap\": port must be a number from 0 to 65535\n" +
				"posthorn.toml:6: listen.imap: \":+1\": port must be a number from 0 to 65535"},
		{"duplicate address", `hostname = "mail.example.com"` + certs + "[listen]\nimap = [\"0.0.0.0:25\"]\n",
			`posthorn.toml:6: listen.imap: "0.0.0.0:25" is also in listen.smtp`},
		{"bad level", "hostname = \"mail.example.com\"\n" + certs + "\n\n\n\n\n[log]\nlevel = \"verbose\"\n",
			`posthorn.toml:12: log.level: "verbose" is not one of debug, info, warn, error, trace`},
		{"bad format", `hostname = "mail.example.com"` + certs + "[log]\nformat = \"JSON\"\n",
			`posthorn.toml:6: log.format: "JSON" is not one of text, json`},
		{"string expected", "hostname = 25" + certs,
			`posthorn.toml:1: hostname: string expected, got integer`},
		{"allow_root string", "allow_root = \"yes\"\nhostname = \"mail.example.com\"" + certs,
			`posthorn.toml:1: allow_root: boolean expected, got string`},
		{"array expected", `hostname = "mail.example.com"` + certs + "[dns]\nservers = \"127.0.0.1:53\"\n",
			`posthorn.toml:6: dns.servers: array of strings expected, got string`},
		{"array element", `hostname = "mail.example.com"` + certs + "[dns]\nservers = [\"127.0.0.1:53\", 53, 1.5]\n",
			"posthorn.toml:6: dns.servers: element 2: string expected, got integer\n" +
				"posthorn.toml:6: dns.servers: element 3: string expected, got float"},
		{"table expected", "hostname = \"mail.example.com\"\nlog = \"debug\"" + certs,
			`posthorn.toml:2: log: table expected, got string`},
		{"dns server", `hostname = "mail.example.com"` + certs + "[dns]\nservers = [\"dns.example:53\", \"127.0.0.1:0\", \"127.0.0.1\"]\n",
			"posthorn.toml:6: dns.servers: \"dns.example:53\": host must be an IP address\n" +
				"posthorn.toml:6: dns.servers: \"127.0.0.1:0\": port must be a number from 1 to 65535\n" +
				"posthorn.toml:6: dns.servers: \"127.0.0.1\" is not host:port"},
		{"syntax", "hostname = \"mail.example.com\"\n\nuser = \"x\n",
			`posthorn.toml:3: syntax error: strings cannot contain newlines`},
		{"duplicate key", "hostname = \"a.example\"\nhostname = \"b.example\"\n",
			`posthorn.toml:2: syntax error: Key 'hostname' has already been defined.`},
		{"missing hostname", "user = \"mail\"" + certs,
			`posthorn.toml: hostname: required`},
		{"empty data_dir", "hostname = \"mail.example.com\"\ndata_dir = \"\"" + certs,
			`posthorn.toml:2: data_dir: required`},
		{"bad hostname", "hostname = \"mail..example.com\"" + certs,
			`posthorn.toml:1: hostname: "mail..example.com" is not a valid domain name`},
		{"ip hostname", "hostname = \"[192.0.2.1]\"" + certs,
			`posthorn.toml:1: hostname: "[192.0.2.1]" is not a valid domain name`},
		{"cert without key", "hostname = \"mail.example.com\"\n[tls]\ncert_file = \"c.pem\"\n",
			`posthorn.toml:2: tls.key_file: required when cert_file is set`},
		{"key without cert", "hostname = \"mail.example.com\"\n[tls]\ncert_file = \"\"\nkey_file = \"k.pem\"\n",
			`posthorn.toml:3: tls.cert_file: required when key_file is set`},
		{"no certs", "hostname = \"mail.example.com\"\n[listen]\nsubmissions = []\nhttps = []\n",
			`posthorn.toml: tls.cert_file: required while listen.imaps is enabled: set cert_file and key_file, or acme.enabled, or disable them with []`},
		{"line after multi-line string", "user = \"\"\"\nbogus = 1\n[x]\n\"\"\"\nbogus = 1\nhostname = \"mail.example.com\"" + certs,
			`posthorn.toml:5: bogus: unknown key`},
		{"line after literal strings and arrays", "user = '''\n[x]'''\nhostname = 'a#[' # ]\nallow_root = [\n\"]\", # \"\n'[', {a=1}\n]" + certs,
			"posthorn.toml:3: hostname: \"a#[\" is not a valid domain name\n" +
				"posthorn.toml:4: allow_root: boolean expected, got array"},
		{"inline table", "hostname = \"mail.example.com\"\nlog = {\n  level = \"loud\" }" + certs,
			`posthorn.toml:2: log.level: "loud" is not one of debug, info, warn, error, trace`},
		{"dotted key", "hostname = \"mail.example.com\"\n\nlisten . 'smtp' = [\"x\"]" + certs,
			`posthorn.toml:3: listen.smtp: "x" is not host:port`},
		{"all errors, sorted", "[log]\nlevel = \"x\"\n[listen]\nimap = [\"y\"]\n[tls]\nkey_file = \"k\"\n[other]\n",
			"posthorn.toml: hostname: required\n" +
				"posthorn.toml:2: log.level: \"x\" is not one of debug, info, warn, error, trace\n" +
				"posthorn.toml:4: listen.imap: \"y\" is not host:port\n" +
				"posthorn.toml:5: tls.cert_file: required when key_file is set\n" +
				"posthorn.toml:7: other: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("posthorn.toml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded, want %s", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "posthorn.toml")
	if err := os.WriteFile(path, []byte("hostname = \"mail.example.com\"\ndata_dir = \"data\"\n"+certs), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "data"); c.DataDir != want {
		t.Errorf("DataDir = %q, want %q", c.DataDir, want)
	}

	if err := os.WriteFile(path, []byte("hostname = 1\n"+certs), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if want := path + ":1: hostname: string expected, got integer"; err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %s", err, want)
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); !os.IsNotExist(err) {
		t.Errorf("Load of a missing file: %v, want not-exist", err)
	}
}

func TestValidate(t *testing.T) {
	err := Default().Validate(Options{})
	want := "hostname: required\n" +
		"tls.cert_file: required while listen.submissions, listen.imaps, listen.https are enabled: set cert_file and key_file, or acme.enabled, or disable them with []"
	if err == nil || err.Error() != want {
		t.Errorf("Default().Validate:\n got %v\nwant %s", err, want)
	}
	c := Default()
	c.Hostname = "mail.example.com"
	if err := c.Validate(Options{ExternalCerts: true}); err != nil {
		t.Errorf("Validate with ExternalCerts: %v", err)
	}
	if err := valid().Validate(Options{}); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	odd := valid()
	odd.User = "quote\" back\\slash tab\t nl\n cr\r nul\x00 del\x7f é 😀 '''"
	odd.DataDir = `C:\posthorn data`
	odd.AllowRoot = true
	odd.Listen = Listen{SMTP: []string{"[::1]:25"}}
	odd.DNS.Servers = []string{"127.0.0.1:5300"}
	odd.Log = Log{Level: "trace", Format: "json"}
	for _, c := range []Config{valid(), odd} {
		data := c.TOML()
		got, err := Parse("posthorn.toml", data)
		if err != nil {
			t.Fatalf("Parse(TOML()): %v\n%s", err, data)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("Parse(TOML()):\n got %+v\nwant %+v\n%s", got, c, data)
		}
	}
}

// TestTOMLComments checks that each key in the written file follows a
// comment with its doc.
func TestTOMLComments(t *testing.T) {
	data := string(valid().TOML())
	for _, want := range []string{
		"# The host name of this mail server",
		"hostname = \"mail.example.com\"\n",
		"# Least severe messages to log",
		"One of: debug, info, warn, error, trace.\nlevel = \"info\"\n",
		"[listen]\n",
		"servers = []\n",
	} {
		if !strings.Contains(data, want) {
			t.Errorf("TOML() lacks %q:\n%s", want, data)
		}
	}
	for i, line := range strings.Split(data, "\n") {
		if len(line) > 80 && strings.HasPrefix(line, "#") {
			t.Errorf("line %d is %d long: %s", i+1, len(line), line)
		}
	}
}

// TestSchema checks that every key is documented and of a supported type,
// so that a new section cannot be added half-way.
func TestSchema(t *testing.T) {
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		seen := map[string]bool{}
		for i := range typ.NumField() {
			if sf := typ.Field(i); sf.Tag.Get("toml") == "" {
				t.Errorf("%s.%s has no toml tag", path, sf.Name)
			}
		}
		for _, f := range fields(typ) {
			key := strings.TrimPrefix(path+"."+f.name, ".")
			if f.doc == "" {
				t.Errorf("%s has no doc tag", key)
			}
			if !supported(f.typ) {
				t.Errorf("%s: %s", key, typeName(f.typ))
			}
			if f.enum != nil && f.typ.Kind() != reflect.String {
				t.Errorf("%s: enum on %s", key, typeName(f.typ))
			}
			if seen[f.name] {
				t.Errorf("%s: key twice", key)
			}
			seen[f.name] = true
			if isSection(f.typ) {
				walk(key, f.typ)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
}

func TestSMTPSection(t *testing.T) {
	_, err := Parse("posthorn.toml", []byte(`hostname = "mail.example.com"`+certs+`
[listen]
lmtp = ["/run/posthorn/lmtp", "127.0.0.1:24", "0.0.0.0:24"]
[smtp]
max_line_length = 500
trusted_proxies = ["10.0.0.0/8", "192.0.2.1", "bogus"]
greet_delay = "2m"
`))
	for _, want := range []string{
		`listen.lmtp: "0.0.0.0:24": LMTP listens only on a Unix socket`,
		"smtp.max_line_length: must be at least 1000",
		`smtp.trusted_proxies: "bogus" is not a network`,
		"smtp.greet_delay: must be from 0s to 1m",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

func TestQueueSection(t *testing.T) {
	_, err := Parse("posthorn.toml", []byte(`hostname = "mail.example.com"`+certs+`
[queue]
retry_initial = "10s"
expire = "30m"
relay_domains = ["backup.example", "bad domain"]
relay_recipients = ["a@backup.example", "b@elsewhere.example"]
[relay]
host = "smtp.provider.example"
username = "me"
`))
	for _, want := range []string{
		"queue.retry_initial: must be at least 1m",
		"queue.expire: must be at least 1h",
		`queue.relay_domains: "bad domain" is not a valid domain name`,
		`queue.relay_recipients: "b@elsewhere.example" is not in one of relay_domains`,
		"relay.password_file: username and password_file go together",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
	c, err := Parse("posthorn.toml", []byte(`hostname = "mail.example.com"`+certs+`
[queue]
relay_domains = ["backup.example"]
[relay]
host = "smtp.provider.example"
port = 465
implicit_tls = true
domains = ["gmail.com"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue.RetryMax != Default().Queue.RetryMax || c.Queue.Expire != Default().Queue.Expire || c.Relay.Port != 465 {
		t.Errorf("parsed %+v %+v", c.Queue, c.Relay)
	}
}

func TestTLSCheckInterval(t *testing.T) {
	c, err := Parse("posthorn.toml", []byte(`hostname = "mail.example.com"`+certs))
	if err != nil || c.TLS.CheckInterval != time.Hour {
		t.Errorf("default check_interval %v, %v", c.TLS.CheckInterval, err)
	}
	c, err = Parse("posthorn.toml", []byte(`hostname = "mail.example.com"`+certs+`
check_interval = "2s"
`))
	if err != nil || c.TLS.CheckInterval != 2*time.Second {
		t.Errorf("check_interval %v, %v", c.TLS.CheckInterval, err)
	}
	_, err = Parse("posthorn.toml", []byte(`hostname = "mail.example.com"`+certs+`
check_interval = "10ms"
`))
	if err == nil || !strings.Contains(err.Error(), "tls.check_interval: must be at least 1s") {
		t.Errorf("error %v", err)
	}
}
