// The module path is a placeholder until libpydebug has a public home: use it from another
// module with `replace example.com/pydebug => /path/to/libpydebug/bindings/go`.
module example.com/pydebug

go 1.19
