/* The C ABI from plain C11, as a C host uses it: open an engine on a temp
 * file, register a workflow whose callback runs its steps synchronously,
 * start a run, poll until it completes, read its events, free everything. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storyloom/storyloom.h"

static int failures = 0;

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) {                                                        \
      const char* msg_ = NULL;                                            \
      size_t len_ = 0;                                                    \
      sl_last_error_message(&msg_, &len_);                                \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %.*s\n",      \
              __FILE__, __LINE__, #cond, (int)len_, msg_);                \
      ++failures;                                                         \
    }                                                                     \
  } while (0)

static int has(const char* haystack, const char* needle) {
  return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* One memoized step: returns its result as a malloc'ed copy (to free()),
 * computing `value` only the first time. */
static char* step(sl_execution* execution, const char* name, const char* value) {
  int64_t seq = 0;
  int memoized = 0;
  char* result = NULL;
  char* copy;
  size_t len = 0;
  if (sl_execution_step_begin(&seq, &memoized, &result, &len, execution, name, strlen(name)) !=
      SL_OK) {
    return NULL;
  }
  if (!memoized && sl_execution_step_complete(execution, seq, value, strlen(value)) != SL_OK) {
    return NULL;
  }
  /* The result is used only once it is committed. */
  if (!memoized && sl_execution_wait_durable(execution) != SL_OK) return NULL;
  copy = malloc((memoized ? len : strlen(value)) + 1);
  if (copy != NULL) strcpy(copy, memoized ? result : value);
  sl_free(result); /* library buffers go back through sl_free, never free() */
  return copy;
}

/* Runs the whole workflow right here on the engine's worker thread. */
static void tell_story(void* user_data, sl_execution* execution) {
  const char* input = NULL;
  size_t input_len = 0;
  int* calls = user_data;
  char* outline;
  char* page;
  char output[256];
  ++*calls;
  if (sl_execution_input(&input, &input_len, execution) != SL_OK) {
    sl_execution_finish_failed(execution, SL_CLASS_FATAL, "no input", 8);
    return;
  }
  outline = step(execution, "outline", "\"a fox learns to fly\"");
  sl_execution_progress(execution, "{\"page\":1}", 10);
  sl_execution_chunk(execution, "page-1", 6, "Once upon a time", 16);
  page = step(execution, "page-1", "\"Once upon a time\"");
  if (outline == NULL || page == NULL) {
    sl_execution_finish_failed(execution, SL_CLASS_RETRYABLE, "a step failed", 13);
  } else {
    snprintf(output, sizeof output, "{\"outline\":%s,\"page\":%s,\"input\":%.*s}", outline, page,
             (int)input_len, input);
    sl_execution_finish_completed(execution, output, strlen(output));
  }
  free(outline);
  free(page);
}

static void pause_ms(long ms) {
  struct timespec t;
  t.tv_sec = 0;
  t.tv_nsec = ms * 1000000L;
  nanosleep(&t, NULL);
}

int main(void) {
  char path[] = "/tmp/storyloom-capi-smoke-XXXXXX";
  int fd = mkstemp(path);
  sl_engine_options options = SL_ENGINE_OPTIONS_INIT;
  sl_engine* engine = NULL;
  int calls = 0;
  char* run = NULL;
  size_t run_len = 0;
  char* events = NULL;
  size_t events_len = 0;
  char run_id[64] = {0};
  const char* id_start;
  int i;
  char wal[64], shm[64];

  CHECK(fd >= 0);
  close(fd);
  unlink(path); /* an empty file is fine too; a fresh path is the common case */
  options.store = path;
  options.store_len = strlen(path);
  options.poll_interval_ms = 5;

  CHECK(strcmp(sl_version(), SL_VERSION_STRING) == 0);
  CHECK(sl_engine_open(&engine, &options) == SL_OK);
  if (engine == NULL) return 1;
  CHECK(sl_engine_register_workflow(engine, "story", 5, NULL, tell_story, &calls) == SL_OK);
  CHECK(sl_engine_launch(engine) == SL_OK);
  CHECK(sl_engine_start(&run, &run_len, engine, "story", 5, "{\"hero\":\"fox\"}", 14, NULL) ==
        SL_OK);
  CHECK(run != NULL && strlen(run) == run_len);

  /* The run id: the first field of the run JSON, {"id":"..."}. */
  id_start = run ? strstr(run, "\"id\":\"") : NULL;
  CHECK(id_start != NULL);
  if (id_start != NULL) {
    id_start += 6;
    for (i = 0; id_start[i] != '"' && i < 63; ++i) run_id[i] = id_start[i];
  }
  sl_free(run);
  run = NULL;

  for (i = 0; i < 1000; ++i) {
    CHECK(sl_engine_get_run(&run, &run_len, engine, run_id, strlen(run_id)) == SL_OK);
    if (has(run, "\"status\":\"completed\"") || has(run, "\"status\":\"failed\"")) break;
    sl_free(run);
    run = NULL;
    pause_ms(5);
  }
  CHECK(has(run, "\"status\":\"completed\""));
  CHECK(has(run, "\"output\":{\"outline\":\"a fox learns to fly\",\"page\":\"Once upon a time\""));
  CHECK(has(run, "\"progress\":{\"page\":1}"));
  sl_free(run);
  CHECK(calls == 1);

  CHECK(sl_engine_events(&events, &events_len, engine, run_id, strlen(run_id), 0, 0) == SL_OK);
  CHECK(has(events, "\"type\":\"run.created\""));
  CHECK(has(events, "\"type\":\"step.completed\""));
  CHECK(has(events, "\"type\":\"chunk\""));
  CHECK(has(events, "\"type\":\"run.completed\""));
  sl_free(events);

  /* An error, read back as code and message. */
  CHECK(sl_engine_get_run(&run, NULL, engine, "nope", 4) == SL_ENOTFOUND);
  CHECK(run == NULL);
  CHECK(sl_last_error_code() == SL_ENOTFOUND);
  {
    const char* msg = NULL;
    size_t len = 0;
    sl_last_error_message(&msg, &len);
    CHECK(len == strlen("no run with id 'nope'") && strcmp(msg, "no run with id 'nope'") == 0);
  }

  sl_engine_close(engine);
  sl_engine_close(NULL);
  snprintf(wal, sizeof wal, "%s-wal", path);
  snprintf(shm, sizeof shm, "%s-shm", path);
  unlink(path);
  unlink(wal);
  unlink(shm);
  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("capi_smoke: ok\n");
  return 0;
}
