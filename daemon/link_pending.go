package daemon

// LinkConfig stands in for link.Config until package link lands.
type LinkConfig struct{}

func defaultLinkConfig() LinkConfig { return LinkConfig{} }
