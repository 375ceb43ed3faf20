/* The `world` host service of examples/game_server, and the bytes a tick carries: what the game
 * (the embedder) and its behaviour module (behaviour.cc) agree on. C types only, like
 * fnhost/abi.h, because this is the header an embedder hands its module authors.
 *
 * The service has both forms. In process, a module moves an entity with one call through the
 * typed table (game_world_v1). Under process isolation it gets only the bytes form, and sends
 * the tick's moves in one CallHost of method "move_batch": an array of game_world_move, so a
 * tick costs one round trip to the host, not one per entity.
 *
 * A tick's request is a game_tick_header followed by `count` game_position, those of entities
 * first_entity .. first_entity + count - 1. The module answers with the number of moves it sent
 * (a uint32_t), which the game checks against the moves the world received.
 *
 * Thread-safety: the game makes one call at a time, so the world is moved by one call at a
 * time. Everything is in the host's byte order (module and game run on one machine). */

#ifndef FNHOST_EXAMPLES_GAME_SERVER_WORLD_SERVICE_H_
#define FNHOST_EXAMPLES_GAME_SERVER_WORLD_SERVICE_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GAME_WORLD_SERVICE "world"
#define GAME_WORLD_SERVICE_VERSION 1u
#define GAME_WORLD_METHOD_MOVE_BATCH "move_batch"

/* Moves one entity by (dx, dy) cells; the world clamps it to its edges. */
typedef struct game_world_move {
  uint32_t entity;
  int16_t dx;
  int16_t dy;
} game_world_move;

/* The typed form. `move` returns FNHOST_STATUS_OK, or FNHOST_STATUS_OUT_OF_RANGE for an entity
 * the world does not have (nothing moves then). */
typedef struct game_world_v1 {
  int32_t (*move)(void* data, uint32_t entity, int32_t dx, int32_t dy);
} game_world_v1;

typedef struct game_tick_header {
  uint64_t tick;
  uint32_t first_entity;
  uint32_t count;
  /* The world's size: positions run from 0 to width - 1 and 0 to height - 1. */
  int32_t width;
  int32_t height;
} game_tick_header;

typedef struct game_position {
  int32_t x;
  int32_t y;
} game_position;

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* FNHOST_EXAMPLES_GAME_SERVER_WORLD_SERVICE_H_ */
