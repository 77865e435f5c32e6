/* storyloom.h must compile alone as strict C11 (-pedantic -Werror): a C host
 * includes nothing else. Built as an object library, so a broken header
 * breaks the build. */
#include "storyloom/storyloom.h"

/* The option macros must initialise their structs completely. */
static const sl_engine_options engine_options = SL_ENGINE_OPTIONS_INIT;
static const sl_workflow_options workflow_options = SL_WORKFLOW_OPTIONS_INIT;
static const sl_start_options start_options = SL_START_OPTIONS_INIT;
static const sl_list_options list_options = SL_LIST_OPTIONS_INIT;

unsigned int storyloom_header_test_versions(void);
unsigned int storyloom_header_test_versions(void) {
  return engine_options.version + workflow_options.version + start_options.version +
         list_options.version;
}
