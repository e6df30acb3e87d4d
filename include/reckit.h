/*
 * reckit.h: the C ABI of RecKit (the shared library libRecKitC.so, SwiftPM product RecKitC).
 *
 * Every function returns a status (RECKIT_OK = 0, or one of the codes below) and never aborts
 * the process on bad input: arguments are checked first. After a failure, reckit_last_error()
 * gives the message (the text the `reckit` command prints) for the calling thread; the pointer
 * stays valid until that thread's next failing call. Arrays are passed as pointers and shapes,
 * row-major; outputs go to the caller's buffers. Functions may be called from several threads.
 */
#ifndef RECKIT_H
#define RECKIT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    RECKIT_OK = 0,
    RECKIT_INVALID_ARGUMENT = 1, /* a null pointer, a size, a shape or a value out of range */
    RECKIT_IO = 2,               /* a file could not be read or written */
    RECKIT_UNSUPPORTED = 3,      /* the operation does not exist for this input */
    RECKIT_MEMORY = 4,           /* the result would not fit in memory */
    RECKIT_BUFFER_TOO_SMALL = 5  /* an output buffer is too small; the size needed is reported */
};

/* The ABI's version (2): raised when a signature or a meaning changes. */
int32_t reckit_abi_version(void);

/* RecKit's version ("0.1.0"; the reckit command's and the Python package's). */
const char *reckit_version(void);

/* Vector features this build was compiled for and the CPU has (bits: 1 AVX2, 2 FMA, 4 AVX-512F);
 * either pointer may be NULL. */
void reckit_build_features(int32_t *compiled, int32_t *host);

/* What this build leaves of the CPU's vector features unused, what that costs per kernel and the
 * flag that fixes it, or NULL when it uses them. Asking marks it shown: the library does not
 * also log it (through swift-log, once, at the first kernel) after this call. */
const char *reckit_build_advice(void);

/* The kernel set the loaded OpenBLAS chose ("Cooperlake", "Haswell", "Prescott", ...). */
const char *reckit_blas_core(void);

/* The OpenBLAS core to load instead ("SkylakeX" or "Haswell") when OpenBLAS chose a generic core
 * on a CPU with AVX-512 or AVX2+FMA and neither OPENBLAS_CORETYPE nor RECKIT_BLAS_CORE=keep is
 * set; "" otherwise. OpenBLAS reads OPENBLAS_CORETYPE only when it loads: ask from a throwaway
 * process, then set it before loading this library. */
const char *reckit_blas_recommended_core(void);

/* The last failed call's message on this thread ("" when none failed). */
const char *reckit_last_error(void);

/* RecKit's and OpenBLAS's thread count, 1...1024. */
int32_t reckit_set_threads(int64_t n);

/* A scorer over n items of dimension d (n × d floats; bias: n floats or NULL). The catalog is
 * copied (and packed for the SIMD kernel); free the handle with reckit_scorer_free. */
int32_t reckit_scorer_create(const float *items, int64_t n, int64_t d, const float *bias, void **out);
/* The same for a shard of a catalog: the n items are global ids first_item .. first_item + n - 1
 * of a catalog_size-item catalog; its top-k reports global ids and the whole catalog's scores. */
int32_t reckit_scorer_create_shard(const float *items, int64_t n, int64_t d, const float *bias,
                                   int64_t first_item, int64_t catalog_size, void **out);
void reckit_scorer_free(void *scorer);

/* The top k items of each of b states (b × d floats), canonical scores (the same bits as
 * RecKit's CatalogScorer for any thread count), best first. indices and scores receive b × k
 * values (unused slots -1 and NaN), counts (or NULL) b values. Exclusions: exclude_offsets (b + 1
 * rising values from 0) and exclude_items (exclude_count global ids), or both NULL. */
int32_t reckit_scorer_topk(void *scorer, const float *states, int64_t b, int64_t d, int64_t k,
                           const int64_t *exclude_offsets, const int64_t *exclude_items,
                           int64_t exclude_count, int64_t *indices, float *scores, int64_t *counts);

/* Merges p top-k results of the same b states over disjoint item sets (a catalog's shards):
 * indices and scores hold p × b × kp values (part-major; rows best first, unused slots -1 and
 * NaN). Writes the b × k best of the union (unused slots -1 and NaN) and the counts (or NULL):
 * exactly one scorer's top-k over the whole catalog (ties to the lower id, NaN last). */
int32_t reckit_topk_merge(int64_t p, int64_t b, int64_t kp, const int64_t *indices, const float *scores,
                          int64_t k, int64_t *out_indices, float *out_scores, int64_t *out_counts);

/* Rank marginals P(item at rank) of a policy given as a JSON spec (the keys of reckit's spec
 * files; relative paths resolve against base_dir, or the working directory when NULL; errors name
 * source, the spec file's path, or "the policy spec" when NULL). method 0:
 * exact; 1: Monte Carlo with simulations and seed. Writes items × k doubles to out (out_len
 * available) and the item count to items_out (or NULL); with too small a buffer the status is
 * RECKIT_BUFFER_TOO_SMALL and items_out is set (ask with out_len 0 first). */
int32_t reckit_rank_marginals(const char *spec_json, const char *base_dir, const char *source, int64_t k,
                              int32_t method,
                              int64_t simulations, uint64_t seed, double *out, int64_t out_len,
                              int64_t *items_out);

/* Offline A/B tests. config_json holds reckit offline-ab's options as JSON: "logs" (a CSV path),
 * "format" ("obd" or "csv"), "columns" (csv: item=COL,position=COL,reward=COL[,...]), "row_key",
 * "targets" (a list of spec paths, spec objects or {"name": ..., "spec": ...}), "logging",
 * "caps", "bootstrap", "seed", "item_features", "piece_groups", "reward_models", "k", "method"
 * ("exact" or "mc"), "simulations". Relative paths resolve against base_dir (NULL: the working
 * directory); errors name source (NULL: "the configuration"). Outputs are malloc'd buffers
 * (text ones end with a 0 byte) to free with reckit_free; their length goes to *_len (or NULL). */

/* Rows in memory instead of a "logs" file: n item ids, positions (as logged), rewards and
 * propensities (or NULL), read in place: these arrays, and the codes, values and flags of the
 * columns added later (not their texts), must stay valid and unchanged until reckit_log_free.
 * source names the rows in errors and, without a row key, in the row keys (as a file of that name
 * would). reckit_log_add_column adds a coded column (a context
 * or the row key) by name: n codes into count values, value v being the UTF-8 text
 * values[offsets[v] .. offsets[v+1]) as a CSV file would hold it. reckit_log_add_int_column adds
 * an integer column: n values read as their decimal text, missing (or NULL) flagging per row
 * (non-zero) an empty field; no text is made per row. A slate log's slate column is added either
 * way, its probability columns (slate_propensity, cascade_propensity, target_*) by
 * reckit_log_add_number_column: n values. */
int32_t reckit_log_create(const char *source, int64_t n, const int64_t *item, const int64_t *position,
                          const double *reward, const double *propensity, void **log);
int32_t reckit_log_add_column(void *log, const char *name, const int32_t *codes, int64_t n,
                              const uint8_t *values, const int64_t *offsets, int64_t count);
int32_t reckit_log_add_int_column(void *log, const char *name, const int64_t *values, int64_t n,
                                  const uint8_t *missing);
int32_t reckit_log_add_number_column(void *log, const char *name, const double *values, int64_t n);
void reckit_log_free(void *log);

/* The report as JSON (the keys of reckit offline-ab --json) and, when html is not NULL, as the
 * HTML page reckit offline-ab --html writes. log: a reckit_log_create handle, or NULL to read
 * the configuration's "logs" file. */
int32_t reckit_offline_ab(const char *config_json, const char *base_dir, const char *source, void *log,
                          uint8_t **report_json, int64_t *report_len, uint8_t **html, int64_t *html_len);

/* One shard's pass (the configuration must set "k"): after (after_len bytes) is the merged state
 * of the previous pass, or NULL for the first; state receives this shard's state. */
int32_t reckit_offline_ab_partial(const char *config_json, const char *base_dir, const char *source,
                                  void *log, const uint8_t *after, int64_t after_len, uint8_t **state,
                                  int64_t *state_len);

/* Merges count shard states of one pass. *done = 1: out is the report as JSON (and html, when not
 * NULL, the HTML page); *done = 0: out is the merged state, to give every shard as `after` for the
 * next pass. */
int32_t reckit_offline_ab_merge(const uint8_t *const *states, const int64_t *lengths, int64_t count,
                                uint8_t **out, int64_t *out_len, int32_t *done, uint8_t **html,
                                int64_t *html_len);

/* OBP-style estimators on per-round action distributions: the round rewards (their mean is the
 * policy value) of estimator 0 IPW, 1 SNIPW, 2 DM, 3 DR, 4 SwitchDR, 5 SNDR, 6 DRos, 7 sub-Gaussian
 * IPW, 8 sub-Gaussian DR with lambda (IPW's and DR's clip, SwitchDR's threshold, DRos's shrinkage;
 * INFINITY for none; the sub-Gaussian lambda in [0, 1]). action, position (0-based), reward,
 * pscore: n values; action_dist and estimated_rewards (NULL for IPW, SNIPW, sub-Gaussian IPW):
 * n x actions x positions, row-major (OBP's layout). Writes n values to out. */
int32_t reckit_obp_round_rewards(int32_t estimator, double lambda, int64_t n, int64_t actions,
                                 int64_t positions, const int64_t *action, const int64_t *position,
                                 const double *reward, const double *pscore, const double *action_dist,
                                 const double *estimated_rewards, double *out);
/* OBP's slate IPS row terms: estimator 0 standard (whole-slate pscores), 1 independent
 * (item-position), 2 reward interaction (cascade); self_normalized non-zero for the
 * self-normalised class. position (0-based, < len_list), reward, pscore (logging) and
 * evaluation_pscore: n values. Writes n row terms r*w to out; the policy value is their sum over
 * the number of slates. */
int32_t reckit_obp_slate_row_terms(int32_t estimator, int32_t self_normalized, int64_t len_list, int64_t n,
                                   const int64_t *position, const double *reward, const double *pscore,
                                   const double *evaluation_pscore, double *out);
/* MIPS's marginalized importance weights with a known embedding distribution (OBP's p_e_a):
 * w_t = prod_d sum_a action_dist[t,a,p_t] p_e_a[a,e_td,d] / prod_d sum_a pi_b[t,a,p_t] p_e_a[a,e_td,d].
 * position (0-based): n values; embedding: n x dimensions categories; pi_b and action_dist:
 * n x actions x positions; p_e_a: actions x categories x dimensions; row-major. Writes n weights. */
int32_t reckit_obp_marginal_weights(int64_t n, int64_t actions, int64_t positions, int64_t dimensions,
                                    int64_t categories, const int64_t *position, const int64_t *embedding,
                                    const double *pi_b, const double *action_dist, const double *p_e_a,
                                    double *out);
/* SLOPE's choice among k candidates from their estimates and confidence widths (the rule the
 * engine's tuned estimators use): writes the chosen 0-based index to out. */
int32_t reckit_slope_choice(int64_t k, const double *estimates, const double *widths, int64_t *out);
/* The Student t quantile at p (0 < p < 1) with nu > 0 degrees of freedom. */
int32_t reckit_student_t_quantile(double p, double nu, double *out);

/* Training and serving. reckit_train: config_json holds reckit train's options as JSON ("data",
 * "format", "columns", "event_map", "rating_map", "min_item_count", "min_session_length", "split",
 * "split_seed", "length", "algo", "epochs", "batch", "lr", "lr2", "encoder", "dim", "heads",
 * "blocks", "layout", "dropout", "attention_projection", "gamma", "reward", "price_scaling",
 * "negatives", "warmup", "validate_every", "select", "seed", "batch_parts", "out", "overwrite",
 * "q_head"); model receives the best model (free with reckit_model_free), report_json (or NULL)
 * the training report. With "out", the run folder gets what reckit train writes. */
int32_t reckit_train(const char *config_json, const char *base_dir, const char *source, void **model,
                     uint8_t **report_json, int64_t *report_len);
int32_t reckit_model_load(const char *path, void **model);
void reckit_model_free(void *model);
/* JSON: items, length, algorithm, encoder, dim, item_keys (item i+1's raw key at index i),
 * event_types, has_q_head. */
int32_t reckit_model_info(void *model, uint8_t **json, int64_t *json_len);
/* Histories: dense item ids (1...items), history r = ids[offsets[r] .. offsets[r+1]), oldest first
 * (the last `length` are used). head 0: supervised, 1: Q. scores: b x items floats, column i =
 * item i+1. recommend: b x k item indices (dense id - 1; -1 when fewer) and scores, best first;
 * exclude_history leaves the history's items out. */
int32_t reckit_model_scores(void *model, int32_t head, const int64_t *offsets, const int64_t *ids,
                            int64_t b, float *scores);
int32_t reckit_model_recommend(void *model, int32_t head, const int64_t *offsets, const int64_t *ids,
                               int64_t b, int64_t k, int32_t exclude_history, int64_t *indices,
                               float *scores);
int32_t reckit_model_save(void *model, const char *path);
/* A model head's item vectors (items × dim floats; row i scores item i + 1) and bias (items
 * floats, or NULL): the catalog reckit score --items-from scores. head 0 supervised, 1 Q. */
int32_t reckit_model_head(void *model, int32_t head, float *vectors, float *bias);
/* HR@k and NDCG@k per event type (reckit evaluate --json's object) of model (NULL: the popularity
 * baseline) on the data keys of reckit_train's configuration plus "on" ("test" or "valid"). */
int32_t reckit_evaluate(void *model, int32_t head, const char *config_json, const char *base_dir,
                        const char *source, uint8_t **json, int64_t *json_len);

/* Frees a buffer a reckit function returned (NULL is allowed). */
void reckit_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* RECKIT_H */
