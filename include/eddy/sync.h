/* eddy — sync (being written; see SPEC C rows). */
#ifndef EDDY_SYNC_H
#define EDDY_SYNC_H
#include "base.h"
#endif
