# Connector registration. Each connector folder calls dealcoach_add_connector(); its
# factory registers itself by name from a static initializer. Static archives drop
# object files nothing references, so connectors are OBJECT libraries gathered into
# one interface target that the sidecar binary and tests link: adding a connector
# touches no core file.
define_property(GLOBAL PROPERTY DEALCOACH_CONNECTORS
  BRIEF_DOCS "Connector object libraries" FULL_DOCS "Connector object libraries")

# dealcoach_add_connector(NAME SOURCES ... [LIBS ...])
function(dealcoach_add_connector name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  set(target dealcoach_connector_${name})
  add_library(${target} OBJECT ${ARG_SOURCES})
  target_link_libraries(${target} PUBLIC dealcoach_connector_api ${ARG_LIBS})
  dealcoach_warnings(${target})
  set_property(GLOBAL APPEND PROPERTY DEALCOACH_CONNECTORS ${target})
endfunction()
