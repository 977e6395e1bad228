package app

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/ironclad-auth/ironclad/store"
)

// settingNames is every variable name of the Settings table (one row may
// name two, as GOGC and GOMEMLIMIT).
func settingNames() map[string]bool {
	names := map[string]bool{}
	for _, s := range Settings {
		for _, n := range strings.Split(s.Name, "`, `") {
			names[n] = true
		}
	}
	return names
}

// composeFile is the part of deploy/compose.yaml the tests read.
type composeFile struct {
	Services map[string]struct {
		Image       string         `yaml:"image"`
		Environment map[string]any `yaml:"environment"`
		Networks    any            `yaml:"networks"`
	} `yaml:"services"`
}

// composeSecret stands for the JWT_SECRET compose reads from its
// environment.
const composeSecret = "compose-test-secret-0123456789abcdef"

// composeVar is ${NAME:?message} or ${NAME:-default} or ${NAME}.
var composeVar = regexp.MustCompile(`\$\{([A-Z_]+)(?::?[-?][^}]*)?\}`)

// Every variable deploy/compose.yaml sets for an Ironclad replica is a row
// of the configuration table, and together they are a configuration that
// loads: on Postgres and Redis, behind a trusted balancer, with the one
// secret compose takes from the environment.
func TestComposeEnvironment(t *testing.T) {
	raw, err := os.ReadFile("../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	for _, want := range []string{"postgres", "redis", "lb", "spa", "mail"} {
		if _, ok := cf.Services[want]; !ok {
			t.Errorf("deploy/compose.yaml has no %s service", want)
		}
	}
	names := settingNames()
	var replicas []string
	for name, svc := range cf.Services {
		if !strings.Contains(svc.Image, "/ironclad:") {
			continue
		}
		replicas = append(replicas, name)
		env := map[string]string{}
		for k, v := range svc.Environment {
			if !names[k] {
				t.Errorf("service %s sets %s, which is not in the configuration table (app.Settings)", name, k)
			}
			s := composeVar.ReplaceAllStringFunc(strings.TrimSpace(toString(v)), func(m string) string {
				if composeVar.FindStringSubmatch(m)[1] == "JWT_SECRET" {
					return composeSecret
				}
				t.Errorf("service %s: %s takes %s from the environment; only JWT_SECRET should", name, k, m)
				return ""
			})
			env[k] = s
		}
		c, err := LoadConfig(mapEnv(env))
		if err != nil {
			t.Errorf("service %s: the configuration is refused: %v", name, err)
			continue
		}
		if !store.IsPostgresDSN(c.DatabaseURL) || c.RedisURL == "" || len(c.TrustedProxies) == 0 || string(c.JWTSecret) != composeSecret {
			t.Errorf("service %s: Postgres %v, REDIS_URL set %v, TRUSTED_PROXIES %v, JWT_SECRET from the environment %v; want all", name, store.IsPostgresDSN(c.DatabaseURL), c.RedisURL != "", c.TrustedProxies, string(c.JWTSecret) == composeSecret)
		}
	}
	slices.Sort(replicas)
	if len(replicas) != 2 {
		t.Fatalf("deploy/compose.yaml runs Ironclad replicas %v, want two", replicas)
	}

	// The balancer sends to each replica, checked on /readyz, and is the
	// one proxy the replicas trust.
	cfg, err := os.ReadFile("../deploy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"option httpchk GET /readyz", "option forwardfor", "option redispatch"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("deploy/haproxy.cfg lacks %q", want)
		}
	}
	for _, r := range replicas {
		if !regexp.MustCompile(`(?m)^\s*server ` + r + ` ` + r + `:8080 check\b`).Match(cfg) {
			t.Errorf("deploy/haproxy.cfg has no checked server line for %s", r)
		}
	}
	var lb struct {
		Services struct {
			LB struct {
				Networks map[string]struct {
					IPv4 string `yaml:"ipv4_address"`
				} `yaml:"networks"`
			} `yaml:"lb"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &lb); err != nil {
		t.Fatal(err)
	}
	lbAddr := lb.Services.LB.Networks["backend"].IPv4
	if lbAddr == "" {
		t.Fatal("deploy/compose.yaml: lb has no fixed address on the backend network")
	}
	for _, r := range replicas {
		if got := toString(cf.Services[r].Environment["TRUSTED_PROXIES"]); got != lbAddr {
			t.Errorf("service %s: TRUSTED_PROXIES = %q, want the balancer's address %s alone", r, got, lbAddr)
		}
	}
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(v)
	case uint64:
		return strconv.FormatUint(v, 10)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(yamlString(v)), "\n"))
}

func yamlString(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

// containerfile returns the instructions of ../Containerfile, continuation
// lines joined, comments dropped.
func containerfile(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(l, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// envAssign is one NAME="value" or NAME=value of an ENV instruction.
var envAssign = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)`)

// The image's ENV rows are configuration variables and point the data at
// the /data volume; it runs as a numeric non-root user and checks itself
// with `ironclad healthcheck`.
func TestContainerfile(t *testing.T) {
	names := settingNames()
	env := map[string]string{}
	var user, health, entrypoint, volume string
	for _, ins := range containerfile(t) {
		kw, rest, _ := strings.Cut(ins, " ")
		switch strings.ToUpper(kw) {
		case "FROM":
			if rest != "scratch" {
				t.Errorf("FROM %s, want scratch (nothing can be pulled on the build machines)", rest)
			}
		case "ENV":
			for _, m := range envAssign.FindAllStringSubmatch(rest, -1) {
				if !names[m[1]] {
					t.Errorf("Containerfile sets %s, which is not in the configuration table (app.Settings)", m[1])
				}
				env[m[1]] = strings.Trim(m[2], `"`)
			}
		case "USER":
			user = rest
		case "HEALTHCHECK":
			health = rest
		case "ENTRYPOINT":
			entrypoint = rest
		case "VOLUME":
			volume = rest
		case "RUN":
			t.Errorf("RUN %s: a scratch image has no shell; build on the host and COPY", rest)
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q, want a numeric user other than root", user)
	}
	if !strings.HasSuffix(health, `CMD ["/ironclad", "healthcheck"]`) {
		t.Errorf("HEALTHCHECK %q, want CMD [\"/ironclad\", \"healthcheck\"]", health)
	}
	if entrypoint != `["/ironclad"]` || volume != `["/data"]` {
		t.Errorf("ENTRYPOINT %s, VOLUME %s; want [\"/ironclad\"] and [\"/data\"]", entrypoint, volume)
	}
	c, err := LoadConfig(mapEnv(env))
	if err != nil {
		t.Fatalf("the image's environment is refused: %v", err)
	}
	if c.DataDir != "/data" || c.DatabaseURL != "/data/ironclad.db" || c.Addr != ":8080" {
		t.Errorf("image defaults DATA_DIR %q, DATABASE_URL %q, ADDR %q; want /data, /data/ironclad.db, :8080", c.DataDir, c.DatabaseURL, c.Addr)
	}
}

// deploy/haproxy.cfg is a configuration HAProxy itself accepts (the
// replicas' names resolve only inside compose: HAProxy warns and starts).
func TestComposeHAProxyConfigValid(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		haproxy = "/usr/sbin/haproxy"
		if _, err := os.Stat(haproxy); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("haproxy is not installed (Debian package haproxy; .ci/run installs it): %v", err)
			}
			t.Skipf("haproxy is not installed (Debian package haproxy): %v", err)
		}
	}
	out, err := exec.Command(haproxy, "-c", "-f", "../deploy/haproxy.cfg").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Configuration file is valid") {
		t.Fatalf("haproxy -c -f deploy/haproxy.cfg: %v\n%s", err, out)
	}
}

// The systemd unit's Environment= rows are configuration variables that
// load, with the secret its EnvironmentFile holds; where systemd is
// installed, systemd-analyze accepts the unit.
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile("../deploy/ironclad.service")
	if err != nil {
		t.Fatal(err)
	}
	names := settingNames()
	env := map[string]string{"JWT_SECRET": "unit-test-secret-0123456789abcdefgh"}
	for _, l := range strings.Split(string(raw), "\n") {
		v, ok := strings.CutPrefix(l, "Environment=")
		if !ok {
			continue
		}
		k, val, _ := strings.Cut(strings.Trim(v, `"`), "=")
		if !names[k] {
			t.Errorf("deploy/ironclad.service sets %s, which is not in the configuration table (app.Settings)", k)
		}
		if strings.ContainsAny(val, " \t") {
			t.Errorf("deploy/ironclad.service: %s=%q has a space: systemd splits it", k, val)
		}
		env[k] = val
	}
	c, err := LoadConfig(mapEnv(env))
	if err != nil {
		t.Fatalf("the unit's environment is refused: %v", err)
	}
	if c.Playground || c.SignupEnabled || !strings.HasPrefix(c.DatabaseURL, "/var/lib/ironclad/") || len(c.TrustedProxies) != 2 {
		t.Errorf("unit: playground %v, signup %v, database %q, trusted %v; want both off, the state folder, loopback trusted", c.Playground, c.SignupEnabled, c.DatabaseURL, c.TrustedProxies)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit's syntax is not verified")
		return
	}
	// verify wants the ExecStart program and the EnvironmentFile to exist.
	dir := t.TempDir()
	unit := strings.Replace(string(raw), "ExecStart=/usr/local/bin/ironclad", "ExecStart=/bin/true", 1)
	unit = strings.Replace(unit, "EnvironmentFile=/", "EnvironmentFile=-/", 1)
	if err := os.WriteFile(dir+"/ironclad.service", []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", dir+"/ironclad.service").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify deploy/ironclad.service: %v\n%s", err, out)
	}
}
