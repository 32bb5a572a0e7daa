# Writes OUT, a C++ file defining r1::kInspectPage as the text of IN, so the
# r1 binary serves the page without any file beside it. Run at build time
# (cmake -P) whenever IN changes.
file(READ ${IN} page)
string(FIND "${page}" ")r1page\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )r1page\"")
endif()
file(WRITE ${OUT} "// Generated from inspect/page.html by inspect/embed_page.cmake; do not edit.\n"
     "#include \"inspect/inspect_api.h\"\n\nnamespace r1 {\n\nconst char* const kInspectPage = R\"r1page(${page})r1page\";\n\n}  // namespace r1\n")
