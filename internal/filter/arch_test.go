package filter_test

import "runtime"

var isAMD64 = runtime.GOARCH == "amd64"
