// Package dependency holds the data shapes consul-template hands to templates (the subset
// portolan models), named as in consul-template so type names in error messages agree.
package dependency

// ServiceTags is consul-template's tag list type, with its Contains method.
type ServiceTags []string

// Contains reports whether the tag list holds s.
func (t ServiceTags) Contains(s string) bool {
	for _, v := range t {
		if v == s {
			return true
		}
	}
	return false
}

// CatalogSnippet is one entry of `services`.
type CatalogSnippet struct {
	Name string
	Tags ServiceTags
}

// AgentWeights is Consul's api.AgentWeights.
type AgentWeights struct {
	Passing int
	Warning int
}

// HealthService is one entry of `service` (consul-template's field order; the subset modelled).
type HealthService struct {
	Node                string
	NodeID              string
	Kind                string
	NodeAddress         string
	NodeDatacenter      string
	NodeTaggedAddresses map[string]string
	NodeMeta            map[string]string
	ServiceMeta         map[string]string
	Address             string
	ID                  string
	Name                string
	Tags                ServiceTags
	Status              string
	Port                int
	Weights             AgentWeights
	Namespace           string
}

// KeyPair is one entry of `ls` and `tree`.
type KeyPair struct {
	Path  string
	Key   string
	Value string
}
