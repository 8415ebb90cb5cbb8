#!/usr/bin/env bash
# placeholder
