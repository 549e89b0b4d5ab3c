// The translation unit that builds the tests' precompiled header (see CMakeLists.txt).
