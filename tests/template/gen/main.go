// Command templategen renders the template corpus with Go's own text/template and Go
// implementations of consul-template's functions over a JSON snapshot, producing the golden
// outputs portolan's C engine must match byte for byte. Standard library only; no network.
//
//	templategen CASEDIR OUTDIR
//
// For every CASEDIR/NAME.ctmpl (snapshot CASEDIR/NAME.json, else CASEDIR/snapshot.json) it
// writes OUTDIR/NAME.out (rendered bytes), OUTDIR/NAME.err (the error, when rendering fails)
// and OUTDIR/NAME.missing (dependencies not available, when the render is incomplete).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	dep "portolan/templategen/dependency"
)

type instance struct {
	Node            string
	Address         string
	Port            int
	ID              string
	Name            string
	Tags            []string
	Status          string
	Meta            map[string]string
	NodeID          string
	Datacenter      string
	Kind            string
	Namespace       string
	NodeMeta        map[string]string
	TaggedAddresses map[string]string
	Weights         dep.AgentWeights
}

type snapshot struct {
	Nodes    map[string]string `json:"nodes"`
	Services []instance        `json:"services"`
	KV       map[string]string `json:"kv"`
	Env      map[string]string `json:"env"`
	Now      int64             `json:"now"`
	Missing  []string          `json:"missing"`
}

type depRec struct {
	kind    int
	name    string
	missing bool
}

type renderer struct {
	snap *snapshot
	deps []*depRec
}

const (
	depServices = iota
	depService
	depKey
	depPrefix
)

func (r *renderer) note(kind int, name string, missing bool) {
	for _, d := range r.deps {
		if d.kind == kind && d.name == name {
			if missing {
				d.missing = true
			}
			return
		}
	}
	r.deps = append(r.deps, &depRec{kind, name, missing})
}

func (r *renderer) isMissing(s string) bool {
	for _, m := range r.snap.Missing {
		if m == s {
			return true
		}
	}
	return false
}

func sortedTags(t []string) dep.ServiceTags {
	c := append([]string{}, t...)
	sort.Strings(c)
	return dep.ServiceTags(c)
}

func (r *renderer) services(s ...string) ([]*dep.CatalogSnippet, error) {
	result := []*dep.CatalogSnippet{}
	if strings.Join(s, "") != "" {
		return nil, fmt.Errorf("catalog.services: datacenter and node-meta queries are not supported")
	}
	if r.isMissing("services") {
		r.note(depServices, "", true)
		return result, nil
	}
	r.note(depServices, "", false)
	tags := map[string][]string{}
	var names []string
	for _, in := range r.snap.Services {
		if _, ok := tags[in.Name]; !ok {
			names = append(names, in.Name)
			tags[in.Name] = []string{}
		}
		for _, t := range in.Tags {
			dup := false
			for _, u := range tags[in.Name] {
				if u == t {
					dup = true
				}
			}
			if !dup {
				tags[in.Name] = append(tags[in.Name], t)
			}
		}
	}
	sort.Strings(names)
	for _, n := range names {
		result = append(result, &dep.CatalogSnippet{Name: n, Tags: sortedTags(tags[n])})
	}
	return result, nil
}

// consul-template's health service query, with '/' allowed in names (portolan's extension).
var queryRe = regexp.MustCompile(`\A((?P<tag>[[:word:]=:\.\-\_]+)\.)?(?P<name>[[:word:]\-\_/]+)(\|(?P<filter>[[:word:]\,]+))?\z`)

func (r *renderer) service(s ...string) ([]*dep.HealthService, error) {
	result := []*dep.HealthService{}
	if len(s) == 0 || s[0] == "" {
		return result, nil
	}
	q := strings.Join(s, "|")
	m := queryRe.FindStringSubmatch(q)
	if m == nil {
		return nil, fmt.Errorf("health.service: invalid format: %q", q)
	}
	tag, name, filter := m[2], m[3], m[5]
	filters := []string{"passing"}
	if filter != "" {
		filters = nil
		for _, f := range strings.Split(filter, ",") {
			switch f {
			case "any", "passing", "warning", "critical", "maintenance":
				filters = append(filters, f)
			case "":
			default:
				return nil, fmt.Errorf("health.service: invalid format: %q", q)
			}
		}
	}
	if r.isMissing("service:" + name) {
		r.note(depService, name, true)
		return result, nil
	}
	r.note(depService, name, false)
	for _, in := range r.snap.Services {
		if in.Name != name {
			continue
		}
		status := in.Status
		if status == "" {
			status = "passing"
		}
		ok := false
		for _, f := range filters {
			if f == "any" || f == status {
				ok = true
			}
		}
		if !ok {
			continue
		}
		if tag != "" {
			has := false
			for _, t := range in.Tags {
				if t == tag {
					has = true
				}
			}
			if !has {
				continue
			}
		}
		nodeAddr := r.snap.Nodes[in.Node]
		addr := in.Address
		if addr == "" {
			addr = nodeAddr
		}
		id := in.ID
		if id == "" {
			id = in.Name
		}
		copyMap := func(m map[string]string) map[string]string {
			c := map[string]string{}
			for k, v := range m {
				c[k] = v
			}
			return c
		}
		result = append(result, &dep.HealthService{
			Node: in.Node, NodeID: in.NodeID, Kind: in.Kind, NodeAddress: nodeAddr, NodeDatacenter: in.Datacenter,
			NodeTaggedAddresses: copyMap(in.TaggedAddresses), NodeMeta: copyMap(in.NodeMeta),
			ServiceMeta: copyMap(in.Meta), Address: addr, ID: id, Name: in.Name, Tags: sortedTags(in.Tags),
			Status: status, Port: in.Port, Weights: in.Weights, Namespace: in.Namespace,
		})
	}
	sort.SliceStable(result, func(i, j int) bool {
		if result[i].Node != result[j].Node {
			return result[i].Node < result[j].Node
		}
		return result[i].ID < result[j].ID
	})
	return result, nil
}

func (r *renderer) kvGet(k string) (string, int) {
	if r.isMissing("key:" + k) {
		return "", -1
	}
	v, ok := r.snap.KV[k]
	if !ok {
		return "", 0
	}
	return v, 1
}

func (r *renderer) key(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	s = strings.TrimPrefix(s, "/")
	v, st := r.kvGet(s)
	r.note(depKey, s, st != 1)
	return v, nil
}

func (r *renderer) keyOrDefault(s, def string) (string, error) {
	if s == "" {
		return def, nil
	}
	s = strings.TrimPrefix(s, "/")
	v, st := r.kvGet(s)
	r.note(depKey, s, st == -1)
	if st != 1 || v == "" {
		return def, nil
	}
	return v, nil
}

func (r *renderer) keyExists(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	s = strings.TrimPrefix(s, "/")
	_, st := r.kvGet(s)
	r.note(depKey, s, st == -1)
	return st == 1, nil
}

func (r *renderer) list(prefix string, recurse bool) ([]*dep.KeyPair, error) {
	result := []*dep.KeyPair{}
	if prefix == "" {
		return result, nil
	}
	prefix = strings.TrimPrefix(prefix, "/")
	if r.isMissing("prefix:" + prefix) {
		r.note(depPrefix, prefix, true)
		return result, nil
	}
	r.note(depPrefix, prefix, false)
	var keys []string
	for k := range r.snap.KV {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		rel := strings.TrimLeft(strings.TrimPrefix(k, prefix), "/")
		if recurse {
			parts := strings.Split(rel, "/")
			if parts[len(parts)-1] == "" {
				continue
			}
		} else if rel == "" || strings.Contains(rel, "/") {
			continue
		}
		result = append(result, &dep.KeyPair{Path: k, Key: rel, Value: r.snap.KV[k]})
	}
	return result, nil
}

func in(l, v interface{}) (bool, error) {
	lv := reflect.ValueOf(l)
	vv := reflect.ValueOf(v)
	switch lv.Kind() {
	case reflect.Array, reflect.Slice:
		for i := 0; i < lv.Len(); i++ {
			e := lv.Index(i)
			if e.Kind() == reflect.Interface {
				e = e.Elem()
			}
			switch e.Kind() {
			case reflect.Int, reflect.Int64:
				if (vv.Kind() == reflect.Int || vv.Kind() == reflect.Int64) && vv.Int() == e.Int() {
					return true, nil
				}
			case reflect.Float64:
				if vv.Kind() == reflect.Float64 && vv.Float() == e.Float() {
					return true, nil
				}
			case reflect.String:
				if vv.Kind() == reflect.String && vv.String() == e.String() {
					return true, nil
				}
			}
		}
	case reflect.String:
		if vv.Kind() == reflect.String && strings.Contains(lv.String(), vv.String()) {
			return true, nil
		}
	}
	return false, nil
}

func byTag(in interface{}) (map[string][]interface{}, error) {
	m := make(map[string][]interface{})
	switch typed := in.(type) {
	case nil:
	case []*dep.CatalogSnippet:
		for _, s := range typed {
			for _, t := range s.Tags {
				m[t] = append(m[t], s)
			}
		}
	case []*dep.HealthService:
		for _, s := range typed {
			for _, t := range s.Tags {
				m[t] = append(m[t], s)
			}
		}
	default:
		return nil, fmt.Errorf("byTag: wrong argument type %T", in)
	}
	return m, nil
}

func (r *renderer) funcs() template.FuncMap {
	now := time.Unix(r.snap.Now, 0).UTC()
	return template.FuncMap{
		"services":     r.services,
		"service":      r.service,
		"key":          r.key,
		"keyOrDefault": r.keyOrDefault,
		"keyExists":    r.keyExists,
		"ls":           func(s string) ([]*dep.KeyPair, error) { return r.list(s, false) },
		"tree":         func(s string) ([]*dep.KeyPair, error) { return r.list(s, true) },
		"env": func(s string) (string, error) {
			return r.snap.Env[s], nil
		},
		"join": func(sep string, a []string) (string, error) { return strings.Join(a, sep), nil },
		"split": func(sep, s string) ([]string, error) {
			s = strings.TrimSpace(s)
			if s == "" {
				return []string{}, nil
			}
			return strings.Split(s, sep), nil
		},
		"contains":   func(v, l interface{}) (bool, error) { return in(l, v) },
		"in":         in,
		"toLower":    func(s string) (string, error) { return strings.ToLower(s), nil },
		"toUpper":    func(s string) (string, error) { return strings.ToUpper(s), nil },
		"replaceAll": func(f, t, s string) (string, error) { return strings.Replace(s, f, t, -1), nil },
		"regexReplaceAll": func(re, pl, s string) (string, error) {
			compiled, err := regexp.Compile(re)
			if err != nil {
				return "", err
			}
			return compiled.ReplaceAllString(s, pl), nil
		},
		"regexMatch": func(re, s string) (bool, error) {
			compiled, err := regexp.Compile(re)
			if err != nil {
				return false, err
			}
			return compiled.MatchString(s), nil
		},
		"byTag": byTag,
		"timestamp": func(s ...string) string {
			switch len(s) {
			case 0:
				return now.Format(time.RFC3339)
			default:
				if s[0] == "unix" {
					return strconv.FormatInt(now.Unix(), 10)
				}
				return now.Format(s[0])
			}
		},
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: templategen CASEDIR OUTDIR")
		os.Exit(2)
	}
	caseDir, outDir := os.Args[1], os.Args[2]
	cases, _ := filepath.Glob(filepath.Join(caseDir, "*.ctmpl"))
	sort.Strings(cases)
	failed := false
	for _, c := range cases {
		base := strings.TrimSuffix(filepath.Base(c), ".ctmpl")
		snapPath := filepath.Join(caseDir, base+".json")
		if _, err := os.Stat(snapPath); err != nil {
			snapPath = filepath.Join(caseDir, "snapshot.json")
		}
		raw, err := os.ReadFile(snapPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var snap snapshot
		if err := json.Unmarshal(raw, &snap); err != nil {
			fmt.Fprintln(os.Stderr, snapPath, err)
			os.Exit(1)
		}
		text, err := os.ReadFile(c)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r := &renderer{snap: &snap}
		var out bytes.Buffer
		name := filepath.Base(c)
		for _, ext := range []string{".out", ".err", ".missing"} {
			os.Remove(filepath.Join(outDir, base+ext))
		}
		tmpl, err := template.New(name).Funcs(r.funcs()).Parse(string(text))
		if err == nil {
			err = tmpl.Execute(&out, nil)
		}
		if err != nil {
			os.WriteFile(filepath.Join(outDir, base+".err"), []byte(err.Error()+"\n"), 0o644)
			continue
		}
		if err := os.WriteFile(filepath.Join(outDir, base+".out"), out.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
		}
		var miss bytes.Buffer
		for _, d := range r.deps {
			if d.missing {
				fmt.Fprintf(&miss, "missing: %d %s\n", d.kind, d.name)
			}
		}
		if miss.Len() > 0 {
			os.WriteFile(filepath.Join(outDir, base+".missing"), miss.Bytes(), 0o644)
		}
	}
	if failed {
		os.Exit(1)
	}
}
