//go:build tools

// Pins promtool for scripts/tools/build.sh (built from the Go module proxy).
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
