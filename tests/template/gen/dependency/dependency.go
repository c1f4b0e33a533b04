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

// HealthService is one entry of `service`.
type HealthService struct {
	Node        string
	NodeAddress string
	ServiceMeta map[string]string
	Address     string
	ID          string
	Name        string
	Tags        ServiceTags
	Status      string
	Port        int
}

// KeyPair is one entry of `ls` and `tree`.
type KeyPair struct {
	Path  string
	Key   string
	Value string
}
