//go:build tools

// Pins helm for scripts/tools/build.sh (built from the Go module proxy).
package tools

import _ "helm.sh/helm/v3/cmd/helm"
