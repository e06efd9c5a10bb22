/* eddy — chan (being written; see SPEC C rows). */
#ifndef EDDY_CHAN_H
#define EDDY_CHAN_H
#include "base.h"
#endif
