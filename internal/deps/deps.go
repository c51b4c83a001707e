// Package deps pins modules that feature branches use while they are being
// built in parallel, so that go.mod does not churn under concurrent work.
// Remove an import once a real package uses the module.
package deps

import (
	_ "github.com/coreos/go-oidc/v3/oidc"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/riverqueue/river/riverdriver/riverpgxv5"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "golang.org/x/oauth2"
)
